// RestApi::Admit: the token of a request with a body is checked on its headers, before the
// server reads the body (issue 11, limits before authentication).
#include <future>
#include <thread>
#include <utility>

#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

namespace ew::rest {
namespace {

class AdmissionTest : public RestApiTest {
 protected:
  server::Admission Admit(const std::string& method, const std::string& path, const std::string& token,
                          std::optional<uint64_t> body_bytes) {
    server::HttpRequestHead head;
    head.method = method;
    head.target = path;
    head.path = path;
    head.peer = "127.0.0.1:50000";
    head.body_bytes = body_bytes;
    if (!token.empty()) head.headers["x-auth-token"] = token;
    auto answer = std::make_shared<std::promise<server::Admission>>();
    auto future = answer->get_future();
    api_->Admit(head, [answer](server::Admission admission) { answer->set_value(std::move(admission)); });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    return future.get();
  }
};

TEST_F(AdmissionTest, Issue11_ABodyWithoutAGoodTokenIsRefusedOnItsHeaders) {
  for (const std::string token : {"", "ewt_not-a-token"}) {
    auto admission = Admit("POST", "/v1/functions", token, 10'000'000);
    ASSERT_TRUE(admission.refusal) << token;
    EXPECT_EQ(admission.refusal->status, 401);
    EXPECT_EQ(ErrorCodeOf(*admission.refusal), "unauthenticated");
  }
  // A chunked body (size unknown) too.
  EXPECT_TRUE(Admit("POST", "/v1/boards", "", std::nullopt).refusal);
}

TEST_F(AdmissionTest, AGoodTokenIsAdmittedWithItsCallerWhichHandleDoesNotCheckAgain) {
  auto admission = Admit("POST", "/v1/boards", alice_, 20);
  ASSERT_FALSE(admission.refusal);
  const auto* who = std::any_cast<auth::Principal>(&admission.context);
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->name, "alice");
  // Handle takes the admitted caller as it is.
  server::HttpRequest request;
  request.method = "GET";
  request.target = request.path = "/v1/boards";
  request.headers["x-auth-token"] = alice_;
  request.admission = *who;
  EXPECT_EQ(Handle(std::move(request)).status, 200);
}

// A token the Authenticator verified moments ago is admitted on the calling (io) thread,
// without a trip to the blocking pool; once revoked, it goes back to the store and is refused.
TEST_F(AdmissionTest, ARecentlyVerifiedTokenIsAdmittedAtOnceAndARevokedOneIsNot) {
  // The admission, and whether it was answered on the calling thread (the server's io thread).
  auto admit = [&](const std::string& token) {
    server::HttpRequestHead head;
    head.method = "POST";
    head.target = head.path = "/v1/boards";
    head.peer = "127.0.0.1:50000";
    head.body_bytes = 20;
    head.headers["x-auth-token"] = token;
    auto answer = std::make_shared<std::promise<std::pair<server::Admission, bool>>>();
    auto future = answer->get_future();
    api_->Admit(head, [caller = std::this_thread::get_id(), answer](server::Admission admission) {
      answer->set_value({std::move(admission), std::this_thread::get_id() == caller});
    });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    return future.get();
  };
  auto [first, first_inline] = admit(bob_);
  EXPECT_FALSE(first_inline) << "never verified yet: checked on the pool";
  ASSERT_FALSE(first.refusal);
  auto [again, again_inline] = admit(bob_);
  EXPECT_TRUE(again_inline) << "answered on the pool";
  ASSERT_FALSE(again.refusal);
  const auto* who = std::any_cast<auth::Principal>(&again.context);
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->name, "bob");
  EXPECT_EQ(Send("DELETE", "/v1/auth/tokens/current", "", bob_).status, 204);
  auto [revoked, revoked_inline] = admit(bob_);
  EXPECT_FALSE(revoked_inline) << "a revoked token is checked against the store";
  ASSERT_TRUE(revoked.refusal);
  EXPECT_EQ(revoked.refusal->status, 401);
}

TEST_F(AdmissionTest, UnknownRoutesAreAnsweredBeforeTheBody) {
  auto missing = Admit("POST", "/v1/nothing", alice_, 100);
  ASSERT_TRUE(missing.refusal);
  EXPECT_EQ(missing.refusal->status, 404);
  auto wrong_method = Admit("PUT", "/v1/boards", alice_, 100);
  ASSERT_TRUE(wrong_method.refusal);
  EXPECT_EQ(wrong_method.refusal->status, 405);
}

TEST_F(AdmissionTest, PublicRoutesAndBodilessRequestsAreAdmittedAsTheyAre) {
  auto login = Admit("POST", "/v1/auth/tokens", "", 60);
  EXPECT_FALSE(login.refusal);
  EXPECT_FALSE(login.context.has_value());
  auto enrol = Admit("POST", "/v1/enrol", "", 60);
  EXPECT_FALSE(enrol.refusal);
  // No body: Handle checks the token as before (and answers 401 itself).
  auto get = Admit("GET", "/v1/boards", "ewt_not-a-token", 0);
  EXPECT_FALSE(get.refusal);
  EXPECT_EQ(Send("GET", "/v1/boards", "", "ewt_not-a-token").status, 401);
}

}  // namespace
}  // namespace ew::rest
