// /v1/boards: creation with a one-time code, live status, project isolation (the issue: "a
// user of project A calling a board of project B → not authorized (REST 403)").
#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

namespace ew::rest {
namespace {

TEST_F(RestApiTest, CreateBoardShowsTheCodeOnlyOnce) {
  auto created = Send("POST", "/v1/boards", R"({"name":"pi-kitchen","labels":{"room":"kitchen"}})", alice_);
  ASSERT_EQ(created.status, 201) << created.body;
  auto body = Json(created);
  const std::string id = body["board"]["id"];
  const std::string code = body["enrolmentCode"];
  EXPECT_GE(code.size(), 16u);
  EXPECT_EQ(body["board"]["projectId"], project_a_);  // the caller's project by default
  EXPECT_EQ(body["board"]["status"], "pending");
  EXPECT_EQ(body["board"]["labels"]["room"], "kitchen");
  EXPECT_EQ(body["enrolmentCodeExpiresAt"], std::to_string(UnixSeconds(clock_.Now()) + 3600));

  auto shown = Send("GET", "/v1/boards/" + id, "", alice_);
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body.find(code), std::string::npos);
  EXPECT_EQ(shown.body.find("enrolment"), std::string::npos);
  EXPECT_EQ(Json(shown)["name"], "pi-kitchen");
  EXPECT_EQ(Json(shown)["status"], "pending");

  auto list = Send("GET", "/v1/boards", "", alice_);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body.find(code), std::string::npos);
  EXPECT_EQ(Json(list)["boards"].size(), 1u);
}

TEST_F(RestApiTest, BoardListsArePagedByCursor) {
  for (int i = 0; i < 5; ++i) CreateBoard("pi-" + std::to_string(i), alice_);
  CreateBoard("other", bob_);
  std::vector<std::string> names;
  std::string cursor;
  int pages = 0;
  do {
    auto page = Send("GET", "/v1/boards?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), "", alice_);
    ASSERT_EQ(page.status, 200) << page.body;
    auto body = Json(page);
    EXPECT_LE(body["boards"].size(), 2u);
    for (const auto& b : body["boards"]) names.push_back(b["name"]);
    cursor = body.value("nextCursor", "");
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"pi-0", "pi-1", "pi-2", "pi-3", "pi-4"}));
  // The last page says nothing of a next one; an admin's list spans projects.
  auto all = Json(Send("GET", "/v1/boards", "", admin_));
  EXPECT_EQ(all["boards"].size(), 6u);
  EXPECT_FALSE(all.contains("nextCursor"));

  for (const char* bad : {"limit=0", "limit=1001", "limit=two", "limit=-1", "cursor=not-a-cursor", "cursor=%25%25"}) {
    auto refused = Send("GET", std::string("/v1/boards?") + bad, "", alice_);
    EXPECT_EQ(refused.status, 400) << bad << ": " << refused.body;
    EXPECT_EQ(ErrorCodeOf(refused), "invalid_argument") << bad;
  }
  EXPECT_EQ(Send("GET", "/v1/boards?limit=1000", "", alice_).status, 200);
}

TEST_F(RestApiTest, UserAndProjectListsArePaged) {
  auto users = Send("GET", "/v1/users?limit=1", "", admin_);
  ASSERT_EQ(users.status, 200) << users.body;
  EXPECT_EQ(Json(users)["users"].size(), 1u);
  const std::string cursor = Json(users).value("nextCursor", "");
  ASSERT_FALSE(cursor.empty());
  auto next = Json(Send("GET", "/v1/users?limit=5&cursor=" + cursor, "", admin_));
  EXPECT_EQ(next["users"].size(), 2u);  // root, alice, bob in all
  EXPECT_FALSE(next.contains("nextCursor"));
  auto projects = Json(Send("GET", "/v1/projects?limit=1", "", admin_));
  EXPECT_EQ(projects["projects"].size(), 1u);
  EXPECT_TRUE(projects.contains("nextCursor"));
  // A cursor of the user list is not one of the board list.
  EXPECT_EQ(Send("GET", "/v1/boards?cursor=" + cursor, "", admin_).status, 400);
  EXPECT_EQ(Send("GET", "/v1/projects?limit=abc", "", admin_).status, 400);
}

TEST_F(RestApiTest, StatusIsLive) {
  auto [id, code] = CreateBoard("pi-1", alice_);
  gateway_.SetOnline(id, "203.0.113.7:51000");
  auto online = Json(Send("GET", "/v1/boards/" + id, "", alice_));
  EXPECT_EQ(online["status"], "online");
  EXPECT_EQ(online["sessionPeer"], "203.0.113.7:51000");

  gateway_.SetOffline(id);
  EXPECT_EQ(Json(Send("GET", "/v1/boards/" + id, "", alice_))["status"], "pending");
  ASSERT_EQ(Send("POST", "/v1/enrol", nlohmann::json{{"code", code}}.dump()).status, 200);
  auto offline = Json(Send("GET", "/v1/boards/" + id, "", alice_));
  EXPECT_EQ(offline["status"], "offline");
  EXPECT_EQ(offline["sessionPeer"], "");
}

TEST_F(RestApiTest, OperatorOfAnotherProjectGets403) {
  auto [id, code] = CreateBoard("pi-b", bob_);
  gateway_.SetOnline(id);

  auto get = Send("GET", "/v1/boards/" + id, "", alice_);
  EXPECT_EQ(get.status, 403) << get.body;
  EXPECT_EQ(ErrorCodeOf(get), "permission_denied");
  auto call = Send("POST", "/v1/boards/" + id + "/calls/sys.ping", "", alice_);
  EXPECT_EQ(call.status, 403) << call.body;
  EXPECT_TRUE(gateway_.calls().empty());
  EXPECT_EQ(Send("DELETE", "/v1/boards/" + id, "", alice_).status, 403);
  EXPECT_EQ(BoardCount(), 1u);
  EXPECT_TRUE(gateway_.disconnected().empty());

  // Listing: alice sees only her project, and may not ask for bob's.
  EXPECT_EQ(Json(Send("GET", "/v1/boards", "", alice_))["boards"].size(), 0u);
  EXPECT_EQ(Send("GET", "/v1/boards?project=" + project_b_, "", alice_).status, 403);
  EXPECT_EQ(Json(Send("GET", "/v1/boards?project=", "", alice_))["boards"].size(), 0u);
  // Nor create a board there.
  auto create = Send("POST", "/v1/boards", nlohmann::json{{"name", "x"}, {"projectId", project_b_}}.dump(), alice_);
  EXPECT_EQ(create.status, 403);
  EXPECT_EQ(BoardCount(), 1u);

  // The owner and the admin reach it.
  EXPECT_EQ(Send("GET", "/v1/boards/" + id, "", bob_).status, 200);
  EXPECT_EQ(Send("GET", "/v1/boards/" + id, "", admin_).status, 200);
}

TEST_F(RestApiTest, MissingBoardIs404) {
  auto response = Send("GET", "/v1/boards/brd-0000000000000000", "", alice_);
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(ErrorCodeOf(response), "not_found");
}

TEST_F(RestApiTest, AdminListsAllOrFilters) {
  CreateBoard("pi-a", alice_);
  CreateBoard("pi-b", bob_);
  EXPECT_EQ(Json(Send("GET", "/v1/boards", "", admin_))["boards"].size(), 2u);
  auto filtered = Json(Send("GET", "/v1/boards?project=" + project_b_, "", admin_));
  ASSERT_EQ(filtered["boards"].size(), 1u);
  EXPECT_EQ(filtered["boards"][0]["name"], "pi-b");
  // An admin may create a board in any project.
  CreateBoard("pi-c", admin_, project_b_);
  EXPECT_EQ(Json(Send("GET", "/v1/boards", "", bob_))["boards"].size(), 2u);
}

TEST_F(RestApiTest, DeleteBoardDisconnectsIt) {
  auto [id, code] = CreateBoard("pi-1", alice_);
  gateway_.SetOnline(id);
  EXPECT_EQ(Send("DELETE", "/v1/boards/" + id, "", alice_).status, 204);
  EXPECT_EQ(gateway_.disconnected(), std::vector<std::string>{id});
  EXPECT_EQ(Send("GET", "/v1/boards/" + id, "", alice_).status, 404);
  EXPECT_EQ(BoardCount(), 0u);
}

TEST_F(RestApiTest, BadBoardRequestsAre400AndStoreNothing) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "invalid request body"},
      {"", "body is required"},
      {"[]", "invalid request body"},
      {R"({"name":"pi-1","colour":"red"})", "colour"},
      {R"({"name":["pi-1"]})", "name"},
      {R"({"name":"pi-1","labels":{"room":3}})", "labels"},
      {R"({"name":"pi-1","labels":{"Bad Key":"x"}})", "Bad Key"},
      {R"({"name":"Pi 1"})", "name"},
      {R"({"name":""})", "name"},
      {R"({"name":"pi-1","projectId":"prj-missing"})", "prj-missing"},
  };
  for (const auto& [body, mentions] : cases) {
    auto response = Send("POST", "/v1/boards", body, admin_);
    EXPECT_EQ(response.status, 400) << body << " → " << response.body;
    EXPECT_NE(ErrorMessageOf(response).find(mentions), std::string::npos) << body << " → " << response.body;
  }
  EXPECT_EQ(BoardCount(), 0u);
}

TEST_F(RestApiTest, DuplicateBoardNameInAProjectIsAConflict) {
  CreateBoard("pi-1", alice_);
  EXPECT_EQ(Send("POST", "/v1/boards", R"({"name":"pi-1"})", alice_).status, 409);
  // The same name in another project is fine.
  EXPECT_EQ(Send("POST", "/v1/boards", R"({"name":"pi-1"})", bob_).status, 201);
}

}  // namespace
}  // namespace ew::rest
