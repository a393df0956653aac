// /v1/projects and /v1/users: admin versus operator, validation, nothing stored on a bad request.
#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

namespace ew::rest {
namespace {

// Every row of a paged list (the tests hold fewer than a page).
const registry::PageRequest kAllRows{registry::kMaxPageLimit, ""};
template <typename T>
Result<std::vector<T>> Items(Result<registry::Page<T>> page) {
  if (!page) return tl::unexpected(page.error());
  return std::move(page->items);
}

TEST_F(RestApiTest, AdminCreatesAndListsProjects) {
  auto created = Send("POST", "/v1/projects", R"({"name":"gamma"})", admin_);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = Json(created)["id"];
  EXPECT_EQ(Json(created)["name"], "gamma");

  auto list = Send("GET", "/v1/projects", "", admin_);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(Json(list)["projects"].size(), 3u);

  auto one = Send("GET", "/v1/projects/" + id, "", admin_);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(Json(one)["name"], "gamma");

  EXPECT_EQ(Send("DELETE", "/v1/projects/" + id, "", admin_).status, 204);
  EXPECT_EQ(Send("GET", "/v1/projects/" + id, "", admin_).status, 404);
}

TEST_F(RestApiTest, OperatorSeesOnlyItsProjectAndCannotCreate) {
  auto list = Send("GET", "/v1/projects", "", alice_);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(Json(list)["projects"].size(), 1u);
  EXPECT_EQ(Json(list)["projects"][0]["id"], project_a_);

  EXPECT_EQ(Send("GET", "/v1/projects/" + project_a_, "", alice_).status, 200);
  auto other = Send("GET", "/v1/projects/" + project_b_, "", alice_);
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(ErrorCodeOf(other), "permission_denied");

  auto create = Send("POST", "/v1/projects", R"({"name":"gamma"})", alice_);
  EXPECT_EQ(create.status, 403);
  EXPECT_EQ(Send("DELETE", "/v1/projects/" + project_b_, "", alice_).status, 403);
}

TEST_F(RestApiTest, ProjectWithUsersCannotBeDeleted) {
  auto response = Send("DELETE", "/v1/projects/" + project_b_, "", admin_);
  EXPECT_EQ(response.status, 409) << response.body;
  EXPECT_EQ(ErrorCodeOf(response), "conflict");
}

TEST_F(RestApiTest, DuplicateProjectIsAConflict) {
  auto response = Send("POST", "/v1/projects", R"({"name":"alpha"})", admin_);
  EXPECT_EQ(response.status, 409) << response.body;
}

TEST_F(RestApiTest, AdminCreatesAUserWhoCanLogIn) {
  nlohmann::json body = {{"name", "carol"}, {"password", "a long password"}, {"projectId", project_b_}};
  auto created = Send("POST", "/v1/users", body.dump(), admin_);
  ASSERT_EQ(created.status, 201) << created.body;
  auto user = Json(created);
  EXPECT_EQ(user["role"], "operator");
  EXPECT_EQ(user["projectId"], project_b_);
  EXPECT_FALSE(user.contains("password"));
  EXPECT_EQ(created.body.find("a long password"), std::string::npos);

  auto login = Send("POST", "/v1/auth/tokens", R"({"username":"carol","password":"a long password"})");
  EXPECT_EQ(login.status, 201) << login.body;

  auto list = Send("GET", "/v1/users?project=" + project_b_, "", admin_);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(Json(list)["users"].size(), 2u);  // bob and carol

  const std::string id = user["id"];
  EXPECT_EQ(Send("GET", "/v1/users/" + id, "", admin_).status, 200);
  EXPECT_EQ(Send("DELETE", "/v1/users/" + id, "", admin_).status, 204);
  EXPECT_EQ(Send("GET", "/v1/users/" + id, "", admin_).status, 404);
}

TEST_F(RestApiTest, UsersAreAdminOnly) {
  EXPECT_EQ(Send("GET", "/v1/users", "", alice_).status, 403);
  nlohmann::json body = {{"name", "carol"}, {"password", "a long password"}, {"projectId", project_a_}};
  EXPECT_EQ(Send("POST", "/v1/users", body.dump(), alice_).status, 403);
  auto users = Items(store_->ListUsers("", kAllRows));
  ASSERT_TRUE(users);
  const std::string bob_id = [&] {
    for (const auto& u : *users)
      if (u.name() == "bob") return u.id();
    return std::string();
  }();
  EXPECT_EQ(Send("DELETE", "/v1/users/" + bob_id, "", alice_).status, 403);
  EXPECT_EQ(Send("GET", "/v1/users/" + bob_id, "", alice_).status, 403);
  EXPECT_EQ(UserCount(), 3u);
}

TEST_F(RestApiTest, BadUserRequestsAre400AndStoreNothing) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"name":"Carol","password":"a long password","projectId":")" + project_a_ + R"("})", "name"},
      {R"({"name":"-carol","password":"a long password","projectId":")" + project_a_ + R"("})", "name"},
      {R"({"name":"carol","password":"short","projectId":")" + project_a_ + R"("})", "password"},
      {R"({"name":"carol","password":"a long password","projectId":")" + project_a_ + R"(","role":"root"})", "role"},
      {R"({"name":"carol","password":"a long password","projectId":"prj-nope"})", "prj-nope"},
      {R"({"name":"carol","password":"a long password"})", "projectId"},
      {R"({"name":"carol","password":"a long password","projectId":")" + project_a_ + R"(","admin":true})", "admin"},
      {R"({"name":7,"password":"a long password","projectId":")" + project_a_ + R"("})", "name"},
      {R"({"name":"carol",)", "invalid request body"},
  };
  for (const auto& [body, mentions] : cases) {
    auto response = Send("POST", "/v1/users", body, admin_);
    EXPECT_EQ(response.status, 400) << body << " → " << response.body;
    EXPECT_EQ(ErrorCodeOf(response), "invalid_argument") << body;
    EXPECT_NE(ErrorMessageOf(response).find(mentions), std::string::npos) << body << " → " << response.body;
  }
  EXPECT_EQ(UserCount(), 3u);
}

TEST_F(RestApiTest, DuplicateUserIsAConflict) {
  nlohmann::json body = {{"name", "alice"}, {"password", "a long password"}, {"projectId", project_a_}};
  EXPECT_EQ(Send("POST", "/v1/users", body.dump(), admin_).status, 409);
}

TEST_F(RestApiTest, AdminCannotDeleteItself) {
  auto whoami = Json(Send("GET", "/v1/auth/whoami", "", admin_));
  const std::string id = whoami["userId"];
  EXPECT_EQ(Send("DELETE", "/v1/users/" + id, "", admin_).status, 409);
  EXPECT_EQ(UserCount(), 3u);
}

}  // namespace
}  // namespace ew::rest
