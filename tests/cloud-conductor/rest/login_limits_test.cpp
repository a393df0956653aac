// Logins through the API with the conductor's protections in place: failures limited per user
// and address (429 + Retry-After, ManualClock), password hashing on its own pool (token checks
// still answer while it is saturated; a full queue is 503), and revocations announced when a
// token is revoked or a user deleted.
#include <future>
#include <thread>

#include "cloud-conductor/auth/hash_pool.hpp"
#include "cloud-conductor/auth/login_limiter.hpp"
#include "cloud-conductor/auth/revocation_hub.hpp"
#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

#include <boost/asio/io_context.hpp>

namespace ew::rest {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class LoginLimitsTest : public RestApiTest {
 protected:
  LoginLimitsTest() {
    auth::LoginLimiterOptions limits;
    limits.free_failures_per_user = 3;
    limits.free_failures_per_address = 6;
    limits.max_delay = 60s;
    limiter_ = std::make_unique<auth::LoginLimiter>(clock_, limits);
    RestDeps deps{*store_, *auth_, gateway_, metrics_, pool_, config_, clock_};
    deps.hashing = &hashing_;
    deps.login_limiter = limiter_.get();
    deps.revocations = &hub_;
    api_ = std::make_unique<RestApi>(deps);
    hub_.Subscribe([this](const auth::Revocation& r) {
      std::lock_guard lock(mu_);
      heard_.push_back(r);
    });
  }
  ~LoginLimitsTest() override {
    Release();
    hashing_.Join();
    pool_.join();
  }

  server::HttpResponse LoginAs(const std::string& name, const std::string& password,
                               const std::string& peer = "192.0.2.1:4000") {
    server::HttpRequest request;
    request.method = "POST";
    request.target = request.path = "/v1/auth/tokens";
    request.body = json{{"username", name}, {"password", password}}.dump();
    request.peer = peer;
    return Handle(std::move(request));
  }

  static std::string Header(const server::HttpResponse& response, const std::string& name) {
    for (const auto& [key, value] : response.headers)
      if (key == name) return value;
    return "";
  }

  // Fills the hash pool with jobs that wait until Release().
  void BlockHashPool(size_t jobs) {
    for (size_t i = 0; i < jobs; ++i) ASSERT_TRUE(hashing_.TryPost([gate = gate_] { gate.wait(); }));
  }
  void Release() {
    if (!released_) gate_release_.set_value();
    released_ = true;
  }

  std::vector<auth::Revocation> Heard() {
    std::lock_guard lock(mu_);
    return heard_;
  }

  boost::asio::io_context io_;
  auth::RevocationHub hub_{io_.get_executor(), clock_};
  std::unique_ptr<auth::LoginLimiter> limiter_;
  auth::HashPool hashing_{auth::HashPoolOptions{1, 4}};
  std::promise<void> gate_release_;
  std::shared_future<void> gate_ = gate_release_.get_future().share();
  bool released_ = false;
  std::mutex mu_;
  std::vector<auth::Revocation> heard_;
};

TEST_F(LoginLimitsTest, RepeatedFailuresAre429WithRetryAfterAndWaitingHelps) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(LoginAs("alice", "wrong").status, 401);
  EXPECT_EQ(LoginAs("alice", "wrong").status, 401) << "the 4th is still checked, then delays start";
  auto refused = LoginAs("alice", kPassword);
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(ErrorCodeOf(refused), "resource_exhausted");
  EXPECT_EQ(Header(refused, "Retry-After"), "1");
  EXPECT_NE(ErrorMessageOf(refused).find("retry in 1 s"), std::string::npos) << refused.body;

  EXPECT_EQ(LoginAs("bob", kPassword, "192.0.2.1:4001").status, 201) << "another user from the same address";

  clock_.Advance(1s);
  EXPECT_EQ(LoginAs("alice", "wrong").status, 401);
  auto longer = LoginAs("alice", kPassword);
  EXPECT_EQ(longer.status, 429);
  EXPECT_EQ(Header(longer, "Retry-After"), "2") << "the delay doubled";
  clock_.Advance(2s);
  EXPECT_EQ(LoginAs("alice", kPassword).status, 201);
  // The success cleared alice's count: three more failures are free again.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(LoginAs("alice", "wrong", "198.51.100.1:1").status, 401);
  EXPECT_EQ(LoginAs("alice", kPassword, "198.51.100.1:1").status, 201);
}

TEST_F(LoginLimitsTest, OneAddressGuessingManyUsersIsLimited) {
  for (int i = 0; i < 7; ++i) EXPECT_EQ(LoginAs("nobody" + std::to_string(i), "x", "203.0.113.5:1").status, 401);
  auto refused = LoginAs("alice", kPassword, "203.0.113.5:2");
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(LoginAs("alice", kPassword, "203.0.113.6:2").status, 201) << "other addresses are not held up";
}

TEST_F(LoginLimitsTest, FailuresFromOneAddressDoNotStopTheUserFromAnother) {
  for (int i = 0; i < 6; ++i) LoginAs("alice", "wrong", "203.0.113.66:1");
  EXPECT_EQ(LoginAs("alice", kPassword, "203.0.113.66:2").status, 429);
  EXPECT_EQ(LoginAs("alice", kPassword, "192.0.2.77:1").status, 201) << "alice from her own address";
}

TEST_F(LoginLimitsTest, ConcurrentGuessesBeyondTheBudgetAre429BeforeAnyFails) {
  BlockHashPool(1);  // the logins below wait in the hash pool's queue: none has failed yet
  std::vector<std::future<server::HttpResponse>> pending;
  std::vector<std::shared_ptr<std::promise<server::HttpResponse>>> answers;
  for (int i = 0; i < 3; ++i) {  // alice's 3 free failures from this address, all in flight
    auto answer = std::make_shared<std::promise<server::HttpResponse>>();
    pending.push_back(answer->get_future());
    server::HttpRequest request;
    request.method = "POST";
    request.target = request.path = "/v1/auth/tokens";
    request.body = json{{"username", "alice"}, {"password", "wrong"}}.dump();
    request.peer = "203.0.113.9:1";
    api_->Handle(std::move(request), [answer](server::HttpResponse r) { answer->set_value(std::move(r)); });
  }
  // Handle runs on the blocking pool: wait until the three logins reached the hash pool.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (hashing_.Pending() < 4 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(hashing_.Pending(), 4u);
  EXPECT_EQ(limiter_->InFlight("203.0.113.9"), 3u);
  auto refused = LoginAs("alice", "guess-4", "203.0.113.9:2");
  EXPECT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(Header(refused, "Retry-After"), "1");
  EXPECT_EQ(hashing_.Pending(), 4u) << "refused before the hash pool";
  Release();
  for (auto& answer : pending) {
    ASSERT_EQ(answer.wait_for(30s), std::future_status::ready);
    EXPECT_EQ(answer.get().status, 401);
  }
  EXPECT_EQ(limiter_->InFlight("203.0.113.9"), 0u);
}

TEST_F(LoginLimitsTest, ALoginRefusedByAFullHashPoolGivesItsSlotBack) {
  BlockHashPool(4);
  EXPECT_EQ(LoginAs("alice", kPassword, "203.0.113.10:1").status, 503);
  EXPECT_EQ(limiter_->InFlight("203.0.113.10"), 0u);
  Release();
  hashing_.Join();
}

TEST_F(LoginLimitsTest, OverlongNamesAreRefusedBeforeAnyWork) {
  auto response = LoginAs(std::string(64, 'a'), "x");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(limiter_->TrackedUsers(), 0u);
}

TEST_F(LoginLimitsTest, TokenChecksAnswerWhileTheHashPoolIsSaturated) {
  BlockHashPool(4);
  ASSERT_EQ(hashing_.Pending(), 4u);
  // The hash pool cannot start anything, yet token checks and store reads answer.
  auto whoami = Send("GET", "/v1/auth/whoami", "", alice_);
  EXPECT_EQ(whoami.status, 200) << whoami.body;
  EXPECT_EQ(Send("GET", "/v1/boards", "", admin_).status, 200);
  // A login finds the hashing queue full: 503 at once, nothing queued.
  auto busy = LoginAs("alice", kPassword);
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_EQ(Header(busy, "Retry-After"), "1");
  auto create = Send("POST", "/v1/users",
                     json{{"name", "carol"}, {"password", "long enough pw"}, {"projectId", project_a_}}.dump(), admin_);
  EXPECT_EQ(create.status, 503);
  EXPECT_EQ(UserCount(), 3u);
  Release();
  hashing_.Join();
}

TEST_F(LoginLimitsTest, LoginsRunOnTheHashPool) {
  BlockHashPool(1);
  std::promise<server::HttpResponse> answer;
  server::HttpRequest request;
  request.method = "POST";
  request.target = request.path = "/v1/auth/tokens";
  request.body = json{{"username", "alice"}, {"password", kPassword}}.dump();
  request.peer = "192.0.2.1:1";
  api_->Handle(std::move(request), [&answer](server::HttpResponse r) { answer.set_value(std::move(r)); });
  auto future = answer.get_future();
  // The login reaches the hash pool and waits there behind the blocking job.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (hashing_.Pending() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(hashing_.Pending(), 2u);
  EXPECT_EQ(future.wait_for(0s), std::future_status::timeout);
  Release();
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(future.get().status, 201);
}

TEST_F(LoginLimitsTest, RevokingATokenOrDeletingAUserIsAnnounced) {
  auto token = store_->FindToken(ids::Sha256Hex(bob_), UnixSeconds(clock_.Now()));
  ASSERT_TRUE(token);
  EXPECT_EQ(Send("DELETE", "/v1/auth/tokens/current", "", bob_).status, 204);
  auto heard = Heard();
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].kind, auth::Revocation::Kind::kToken);
  EXPECT_EQ(heard[0].id, token->id());
  EXPECT_EQ(heard[0].reason_uri, "ew.close.revoked");

  const std::string alice_id = Json(Send("GET", "/v1/auth/whoami", "", alice_)).value("userId", "");
  EXPECT_EQ(Send("DELETE", "/v1/users/" + alice_id, "", admin_).status, 204);
  heard = Heard();
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[1].kind, auth::Revocation::Kind::kUser);
  EXPECT_EQ(heard[1].id, alice_id);
  EXPECT_EQ(Send("GET", "/v1/auth/whoami", "", alice_).status, 401);
  // A refused deletion announces nothing.
  EXPECT_EQ(Send("DELETE", "/v1/users/usr-nope", "", admin_).status, 404);
  EXPECT_EQ(Heard().size(), 2u);
}

}  // namespace
}  // namespace ew::rest
