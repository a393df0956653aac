// /v1/fleets: names unique per project, membership limited to the fleet's project, and the
// usual project isolation.
#include "tests/cloud-conductor/rest/functions_test_harness.hpp"

namespace ew::rest {
namespace {

using nlohmann::json;

class FleetsResourceTest : public FunctionsApiTest {
 protected:
  json CreateFleet(const std::string& name, const std::string& token) {
    auto response = Send("POST", "/v1/fleets", json{{"name", name}}.dump(), token);
    EXPECT_EQ(response.status, 201) << response.body;
    return Json(response);
  }
};

TEST_F(FleetsResourceTest, ListsArePaged) {
  for (const char* name : {"a", "b", "c"}) CreateFleet(name, alice_);
  auto first = Json(Send("GET", "/v1/fleets?limit=2", "", alice_));
  ASSERT_EQ(first["fleets"].size(), 2u);
  auto rest = Json(Send("GET", "/v1/fleets?limit=2&cursor=" + first.value("nextCursor", ""), "", alice_));
  ASSERT_EQ(rest["fleets"].size(), 1u);
  EXPECT_EQ(rest["fleets"][0]["name"], "c");
  EXPECT_FALSE(rest.contains("nextCursor"));
  EXPECT_EQ(Send("GET", "/v1/fleets?limit=0", "", alice_).status, 400);
}

TEST_F(FleetsResourceTest, CreateShowListDelete) {
  auto fleet = CreateFleet("greenhouse", alice_);
  const std::string id = fleet["id"];
  EXPECT_EQ(id.rfind("flt-", 0), 0u);
  EXPECT_EQ(fleet["name"], "greenhouse");
  EXPECT_EQ(fleet["projectId"], project_a_);
  EXPECT_EQ(fleet["boardIds"], json::array());
  EXPECT_TRUE(fleet.contains("createdAt"));

  EXPECT_EQ(Send("POST", "/v1/fleets", json{{"name", "greenhouse"}}.dump(), alice_).status, 409);
  CreateFleet("greenhouse", bob_);  // another project, its own namespace
  EXPECT_EQ(Json(Send("GET", "/v1/fleets", "", alice_))["fleets"].size(), 1u);
  EXPECT_EQ(Json(Send("GET", "/v1/fleets", "", admin_))["fleets"].size(), 2u);
  EXPECT_EQ(Json(Send("GET", "/v1/fleets/" + id, "", alice_))["name"], "greenhouse");
  EXPECT_EQ(Send("GET", "/v1/fleets/" + id, "", bob_).status, 403);
  EXPECT_EQ(Send("DELETE", "/v1/fleets/" + id, "", bob_).status, 403);
  EXPECT_EQ(Send("DELETE", "/v1/fleets/" + id, "", alice_).status, 204);
  EXPECT_EQ(Send("GET", "/v1/fleets/" + id, "", alice_).status, 404);
}

TEST_F(FleetsResourceTest, CreateIsValidated) {
  struct Case {
    std::string body;
    int status;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {"", 400, "name"},
      {"[]", 400, "JSON object"},
      {R"({"name": 5})", 400, "name"},
      {R"({"name": ""})", 400, "name"},
      {R"({"name": "ok", "colour": "red"})", 400, "colour"},
      {json{{"name", "theirs"}, {"projectId", project_b_}}.dump(), 403, project_b_},
  };
  for (const auto& c : cases) {
    auto response = Send("POST", "/v1/fleets", c.body, alice_);
    EXPECT_EQ(response.status, c.status) << c.body << " → " << response.body;
    EXPECT_NE(ErrorMessageOf(response).find(c.mentions), std::string::npos) << c.body << " → " << response.body;
  }
  EXPECT_EQ(Json(Send("GET", "/v1/fleets", "", admin_))["fleets"].size(), 0u);
}

TEST_F(FleetsResourceTest, MembersComeFromTheFleetsProject) {
  const std::string fleet = CreateFleet("greenhouse", alice_)["id"];
  auto [a1, c1] = CreateBoard("pi-a1", alice_);
  auto [a2, c2] = CreateBoard("pi-a2", alice_);
  auto [b1, c3] = CreateBoard("pi-b1", bob_);
  const std::string boards = "/v1/fleets/" + fleet + "/boards/";

  auto added = Send("PUT", boards + a2, "", alice_);
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(Json(added)["boardIds"], json::array({a2}));
  ASSERT_EQ(Send("PUT", boards + a1, "", alice_).status, 200);
  ASSERT_EQ(Send("PUT", boards + a1, "", alice_).status, 200);  // twice is once
  auto shown = Json(Send("GET", "/v1/fleets/" + fleet, "", alice_));
  EXPECT_EQ(shown["boardIds"].size(), 2u);

  EXPECT_EQ(Send("PUT", boards + b1, "", alice_).status, 403);  // not hers to see
  auto foreign = Send("PUT", boards + b1, "", admin_);          // the admin sees it, but it is bob's
  EXPECT_EQ(foreign.status, 400);
  EXPECT_NE(ErrorMessageOf(foreign).find("project"), std::string::npos);
  EXPECT_EQ(Send("PUT", boards + "brd-0000000000000000", "", alice_).status, 404);
  EXPECT_EQ(Send("PUT", boards + a1, "", bob_).status, 403);

  auto removed = Send("DELETE", boards + a1, "", alice_);
  ASSERT_EQ(removed.status, 200);
  EXPECT_EQ(Json(removed)["boardIds"], json::array({a2}));
  EXPECT_EQ(Send("DELETE", boards + a1, "", alice_).status, 404);
}

}  // namespace
}  // namespace ew::rest
