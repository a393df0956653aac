// POST /v1/enrol: the one-time code is the credential.
#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

namespace ew::rest {
namespace {

TEST_F(RestApiTest, EnrolWithCodeIssuesACredential) {
  auto [id, code] = CreateBoard("pi-1", alice_);
  auto response = Send("POST", "/v1/enrol", nlohmann::json{{"code", code}, {"hostname", "raspberrypi"}}.dump());
  ASSERT_EQ(response.status, 200) << response.body;
  auto body = Json(response);
  EXPECT_EQ(body["boardId"], id);
  EXPECT_EQ(body["realm"], "edgewire");
  EXPECT_EQ(body["wampUrl"], "ws://conductor.test:8080/ws");
  EXPECT_EQ(body["iterations"], 1000);
  EXPECT_EQ(body["keylen"], 32);
  const std::string secret = body["secret"];
  const std::string salt = body["salt"];
  EXPECT_GE(secret.size(), 40u);

  // The store keeps the derived key only, and it matches what the board will sign with.
  auto credential = store_->GetBoardCredential(id);
  ASSERT_TRUE(credential) << credential.error().message;
  EXPECT_EQ(credential->salt(), salt);
  EXPECT_EQ(credential->derived_key(), ids::WampCraDeriveKey(secret, salt, 1000, 32));
  auto board = store_->GetBoard(id);
  ASSERT_TRUE(board);
  EXPECT_EQ(board->enrolled_at(), UnixSeconds(clock_.Now()));
}

TEST_F(RestApiTest, EnrolUsesThePublicUrlWhenSet) {
  config_.public_url = "wss://edge.example.com/ws";
  auto [id, code] = CreateBoard("pi-1", alice_);
  auto response = Send("POST", "/v1/enrol", nlohmann::json{{"code", code}}.dump());
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(Json(response)["wampUrl"], "wss://edge.example.com/ws");
}

TEST_F(RestApiTest, EnrolHandsOutWssWhenTheConductorServesTls) {
  config_.tls_cert = "/etc/edgewire/tls/conductor.crt";
  config_.tls_key = "/etc/edgewire/tls/conductor.key";
  auto [id, code] = CreateBoard("pi-1", alice_);
  auto response = Send("POST", "/v1/enrol", nlohmann::json{{"code", code}}.dump());
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(Json(response)["wampUrl"], "wss://conductor.test:8080/ws");
}

TEST_F(RestApiTest, OddHostHeaderIsRefusedAndLeavesTheCodeUsable) {
  auto [id, code] = CreateBoard("pi-1", alice_);
  server::HttpRequest request;
  request.method = "POST";
  request.path = request.target = "/v1/enrol";
  request.headers["host"] = "evil.example/steal?x=";
  request.body = nlohmann::json{{"code", code}}.dump();
  EXPECT_EQ(Handle(request).status, 400);
  EXPECT_EQ(Send("POST", "/v1/enrol", nlohmann::json{{"code", code}}.dump()).status, 200);
}

TEST_F(RestApiTest, ReusedAndWrongCodesGetTheSame401) {
  auto [id, code] = CreateBoard("pi-1", alice_);
  ASSERT_EQ(Send("POST", "/v1/enrol", nlohmann::json{{"code", code}}.dump()).status, 200);
  auto credential = store_->GetBoardCredential(id);
  ASSERT_TRUE(credential);

  auto reused = Send("POST", "/v1/enrol", nlohmann::json{{"code", code}}.dump());
  auto wrong = Send("POST", "/v1/enrol", nlohmann::json{{"code", "AAAAAAAAAAAAAAAA"}}.dump());
  EXPECT_EQ(reused.status, 401);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(reused.body, wrong.body);
  // A refused enrolment changes nothing.
  auto after = store_->GetBoardCredential(id);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->derived_key(), credential->derived_key());
}

TEST_F(RestApiTest, ExpiredCodeIs401WithItsOwnMessage) {
  auto [id, code] = CreateBoard("pi-1", alice_);
  clock_.Advance(config_.enrolment_code_ttl + std::chrono::seconds(1));
  auto response = Send("POST", "/v1/enrol", nlohmann::json{{"code", code}}.dump());
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(ErrorMessageOf(response), "enrolment code expired");
  EXPECT_FALSE(store_->GetBoardCredential(id));
  EXPECT_EQ(Json(Send("GET", "/v1/boards/" + id, "", alice_))["status"], "pending");
}

TEST_F(RestApiTest, EnrolNeedsNoTokenButAValidBody) {
  EXPECT_EQ(Send("POST", "/v1/enrol", "{}").status, 400);
  EXPECT_EQ(Send("POST", "/v1/enrol", R"({"code":"x","board":"y"})").status, 400);
  EXPECT_EQ(Send("POST", "/v1/enrol", "not json").status, 400);
}

}  // namespace
}  // namespace ew::rest
