// /v1/auth: login, logout, whoami, and the token check in front of every other /v1 route.
#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

namespace ew::rest {
namespace {

TEST_F(RestApiTest, LoginReturnsATokenThatWorks) {
  auto response = Send("POST", "/v1/auth/tokens",
                       R"({"username":"alice","password":"correct horse battery","ttlSeconds":"600"})");
  ASSERT_EQ(response.status, 201) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  auto body = Json(response);
  const std::string token = body.value("token", "");
  EXPECT_EQ(token.rfind("ewt_", 0), 0u) << token;
  EXPECT_EQ(body["expiresAt"], std::to_string(UnixSeconds(clock_.Now()) + 600));
  EXPECT_EQ(body["user"]["name"], "alice");
  EXPECT_EQ(body["user"]["projectId"], project_a_);

  auto whoami = Send("GET", "/v1/auth/whoami", "", token);
  ASSERT_EQ(whoami.status, 200) << whoami.body;
  EXPECT_EQ(Json(whoami)["name"], "alice");
  EXPECT_EQ(Json(whoami)["role"], "operator");
  EXPECT_EQ(Json(whoami)["projectId"], project_a_);
}

TEST_F(RestApiTest, WrongPasswordAndUnknownUserGetTheSame401) {
  auto wrong = Send("POST", "/v1/auth/tokens", R"({"username":"alice","password":"not the password"})");
  auto unknown = Send("POST", "/v1/auth/tokens", R"({"username":"mallory","password":"not the password"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(ErrorCodeOf(wrong), "unauthenticated");
  EXPECT_EQ(wrong.body, unknown.body);
}

TEST_F(RestApiTest, LoginRejectsABadTtl) {
  auto response = Send("POST", "/v1/auth/tokens",
                       R"({"username":"alice","password":"correct horse battery","ttlSeconds":-1})");
  EXPECT_EQ(response.status, 400) << response.body;
}

TEST_F(RestApiTest, TokenIsRequired) {
  auto missing = Send("GET", "/v1/boards");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(ErrorCodeOf(missing), "unauthenticated");
  auto bogus = Send("GET", "/v1/boards", "", "ewt_not-a-token");
  EXPECT_EQ(bogus.status, 401);
  auto garbage = Send("GET", "/v1/projects", "", "hello");
  EXPECT_EQ(garbage.status, 401);
}

TEST_F(RestApiTest, BearerAuthorizationIsAccepted) {
  server::HttpRequest request;
  request.method = "GET";
  request.path = request.target = "/v1/auth/whoami";
  request.headers["authorization"] = "Bearer " + alice_;
  auto response = Handle(request);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Json(response)["name"], "alice");

  request.headers["authorization"] = "Basic " + alice_;
  EXPECT_EQ(Handle(request).status, 401);
}

TEST_F(RestApiTest, LogoutRevokesOnlyTheTokenUsed) {
  const std::string second = Login("alice");
  auto response = Send("DELETE", "/v1/auth/tokens/current", "", alice_);
  EXPECT_EQ(response.status, 204) << response.body;
  EXPECT_TRUE(response.body.empty());
  EXPECT_EQ(Send("GET", "/v1/auth/whoami", "", alice_).status, 401);
  EXPECT_EQ(Send("GET", "/v1/auth/whoami", "", second).status, 200);
}

TEST_F(RestApiTest, TokenExpires) {
  auto response = Send("POST", "/v1/auth/tokens",
                       R"({"username":"bob","password":"correct horse battery","ttlSeconds":60})");
  ASSERT_EQ(response.status, 201);
  const std::string token = Json(response)["token"];
  EXPECT_EQ(Send("GET", "/v1/auth/whoami", "", token).status, 200);
  clock_.Advance(std::chrono::seconds(61));
  EXPECT_EQ(Send("GET", "/v1/auth/whoami", "", token).status, 401);
}

TEST_F(RestApiTest, LoginWithUnknownFieldIsRejected) {
  auto response = Send("POST", "/v1/auth/tokens",
                       R"({"username":"alice","password":"correct horse battery","remember":true})");
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(ErrorMessageOf(response).find("remember"), std::string::npos) << response.body;
}

}  // namespace
}  // namespace ew::rest
