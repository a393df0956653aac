// LoginLimiter with a ManualClock: free failures, doubling delays with a cap, per (user, address)
// and per address, the paced per-user table, attempts in flight counted against the budget,
// reset on success, forgetting, and the bounded tables.
#include "cloud-conductor/auth/login_limiter.hpp"

#include <gtest/gtest.h>

namespace ew::auth {
namespace {

using namespace std::chrono_literals;

class LoginLimiterTest : public ::testing::Test {
 protected:
  LoginLimiterOptions Options() {
    LoginLimiterOptions o;
    o.free_failures_per_user = 3;
    o.free_failures_per_address = 10;
    o.first_delay = 1s;
    o.max_delay = 60s;
    o.forget_after = 3600s;
    o.max_tracked = 100;
    o.user_failures_before_pacing = 50;
    o.user_window = 600s;
    o.user_pace = 1s;
    return o;
  }
  ManualClock clock_;
};

TEST_F(LoginLimiterTest, DelaysDoubleAfterTheFreeFailuresUpToTheCap) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.Check("alice", "10.0.0.1"), 0s);
    limiter.Failed("alice", "10.0.0.1");
  }
  EXPECT_EQ(limiter.Check("alice", "10.0.0.1"), 0s) << "three free failures";
  limiter.Failed("alice", "10.0.0.1");  // the 4th: 1 s
  EXPECT_EQ(limiter.Check("alice", "10.0.0.1"), 1s);
  clock_.Advance(1s);
  EXPECT_EQ(limiter.Check("alice", "10.0.0.1"), 0s);
  std::vector<int64_t> waits;
  for (int i = 0; i < 8; ++i) {
    limiter.Failed("alice", "10.0.0.1");
    auto wait = limiter.Check("alice", "10.0.0.1");
    waits.push_back(wait.count());
    clock_.Advance(wait);
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{2, 4, 8, 16, 32, 60, 60, 60}));
}

TEST_F(LoginLimiterTest, RetryAfterIsRoundedUp) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 4; ++i) limiter.Failed("alice", "a");
  clock_.Advance(300ms);
  EXPECT_EQ(limiter.Check("alice", "a"), 1s);
}

TEST_F(LoginLimiterTest, OtherUsersAndAddressesAreNotHeldUp) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 5; ++i) limiter.Failed("alice", "10.0.0.1");
  EXPECT_GT(limiter.Check("alice", "10.0.0.1"), 0s) << "the name is limited from that address";
  EXPECT_EQ(limiter.Check("alice", "10.0.0.2"), 0s) << "not from another one";
  EXPECT_EQ(limiter.Check("bob", "10.0.0.1"), 0s) << "the address has failures left";
}

// Issue 12 (per-user lockout as a denial of service): failing logins for admin from address A,
// as many as an attacker likes, must not stop admin logging in from address B.
TEST_F(LoginLimiterTest, Issue12FailuresFromOneAddressDoNotLockTheUserOutOfAnother) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 40; ++i) {
    auto admission = limiter.Begin("admin", "198.51.100.66");
    if (admission.attempt) admission.attempt->Failed();
    clock_.Advance(admission.retry_after);
  }
  limiter.Failed("admin", "198.51.100.66");
  EXPECT_GT(limiter.Check("admin", "198.51.100.66"), 0s);
  auto admin = limiter.Begin("admin", "192.0.2.10");
  ASSERT_TRUE(admin.attempt) << "retry after " << admin.retry_after.count() << " s";
  admin.attempt->Succeeded();
}

TEST_F(LoginLimiterTest, ManyAddressesFailingOneUserPaceItButNeverLockIt) {
  LoginLimiter limiter(clock_, Options());  // pacing after 50 failures of one name
  for (int i = 0; i < 50; ++i) limiter.Failed("admin", "10.2.0." + std::to_string(i));
  EXPECT_EQ(limiter.Check("admin", "192.0.2.10"), 0s) << "pacing lets one attempt start";
  auto first = limiter.Begin("admin", "192.0.2.10");
  ASSERT_TRUE(first.attempt);
  auto second = limiter.Begin("admin", "192.0.2.11");
  EXPECT_FALSE(second.attempt) << "one at a time while paced";
  EXPECT_EQ(second.retry_after, 1s);
  first.attempt->Failed();
  EXPECT_EQ(limiter.Check("admin", "192.0.2.11"), 1s) << "one start per second";
  clock_.Advance(1s);
  auto third = limiter.Begin("admin", "192.0.2.11");
  ASSERT_TRUE(third.attempt) << "slowed, not locked: the wait never grows";
  third.attempt->Succeeded();
  clock_.Advance(1s);
  EXPECT_EQ(limiter.Check("admin", "192.0.2.12"), 0s);
  EXPECT_EQ(limiter.Check("bob", "192.0.2.12"), 0s) << "other names are not paced";
  clock_.Advance(600s);
  limiter.Failed("admin", "10.3.0.1");
  auto after_window = limiter.Begin("admin", "192.0.2.12");
  auto also = limiter.Begin("admin", "192.0.2.13");
  EXPECT_TRUE(after_window.attempt && also.attempt) << "a new window starts unpaced";
}

TEST_F(LoginLimiterTest, AttemptsInFlightUseUpTheBudgetBeforeTheyFail) {
  LoginLimiter limiter(clock_, Options());  // 10 free failures per address, 3 per name there
  std::vector<std::unique_ptr<LoginLimiter::Attempt>> running;
  int refused = 0;
  for (int i = 0; i < 64; ++i) {
    auto admission = limiter.Begin("user" + std::to_string(i), "10.0.0.1");
    if (admission.attempt) {
      running.push_back(std::move(admission.attempt));
    } else {
      EXPECT_EQ(admission.retry_after, 1s);
      ++refused;
    }
  }
  EXPECT_EQ(running.size(), 10u) << "the address's free failures, all in flight at once";
  EXPECT_EQ(refused, 54);
  EXPECT_EQ(limiter.InFlight("10.0.0.1"), 10u);
  EXPECT_EQ(limiter.Check("someone", "10.0.0.2"), 0s) << "other addresses are not held up";
  // The same name from one address: its 3 free failures.
  size_t same_name = 0;
  for (int i = 0; i < 20; ++i) {
    auto admission = limiter.Begin("alice", "10.0.0.3");
    if (admission.attempt) {
      ++same_name;
      running.push_back(std::move(admission.attempt));
    }
  }
  EXPECT_EQ(same_name, 3u);
  for (auto& attempt : running) attempt->Failed();
  running.clear();
  EXPECT_EQ(limiter.InFlight("10.0.0.1"), 0u);
  // Ten failures recorded: the 11th attempt may go (past the free ones one runs at a time).
  auto next = limiter.Begin("user-next", "10.0.0.1");
  ASSERT_TRUE(next.attempt);
  EXPECT_FALSE(limiter.Begin("user-other", "10.0.0.1").attempt) << "its outcome decides the next delay";
  next.attempt->Failed();
  EXPECT_EQ(limiter.Check("user-other", "10.0.0.1"), 1s) << "the 11th failure: 1 s";
}

TEST_F(LoginLimiterTest, AnAttemptDroppedUnfinishedGivesItsSlotBackAndCountsNothing) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 20; ++i) {
    auto admission = limiter.Begin("alice", "10.0.0.1");
    ASSERT_TRUE(admission.attempt) << i;  // dropped at the end of the iteration: a 503, say
  }
  EXPECT_EQ(limiter.InFlight("10.0.0.1"), 0u);
  EXPECT_EQ(limiter.TrackedUsers(), 0u);
  EXPECT_EQ(limiter.TrackedAddresses(), 0u);
  auto ok = limiter.Begin("alice", "10.0.0.1");
  ASSERT_TRUE(ok.attempt);
  ok.attempt->Succeeded();
  ok.attempt->Failed();  // after the end: ignored
  EXPECT_EQ(limiter.Check("alice", "10.0.0.1"), 0s);
  EXPECT_EQ(limiter.TrackedUsers(), 0u);
}

TEST_F(LoginLimiterTest, AnAddressGuessingManyNamesIsLimited) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 11; ++i) limiter.Failed("user" + std::to_string(i), "10.0.0.9");
  EXPECT_EQ(limiter.Check("someone-else", "10.0.0.9"), 1s);
  EXPECT_EQ(limiter.Check("someone-else", "10.0.0.8"), 0s);
}

TEST_F(LoginLimiterTest, SuccessClearsTheUserAtThatAddressButNotTheAddress) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 4; ++i) limiter.Failed("alice", "10.0.0.1");
  EXPECT_EQ(limiter.Check("alice", "10.0.0.1"), 1s);
  clock_.Advance(1s);
  limiter.Succeeded("alice", "10.0.0.1");
  limiter.Failed("alice", "10.0.0.1");
  EXPECT_EQ(limiter.Check("alice", "10.0.0.1"), 0s) << "the user's count at that address started over";
  for (int i = 0; i < 6; ++i) limiter.Failed("bob" + std::to_string(i), "10.0.0.1");
  EXPECT_GT(limiter.Check("carol", "10.0.0.1"), 0s) << "the address kept its count: 4 + 1 + 6 > 10";
}

TEST_F(LoginLimiterTest, OldFailuresAreForgotten) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 6; ++i) limiter.Failed("alice", "a");
  clock_.Advance(3600s);
  EXPECT_EQ(limiter.Check("alice", "a"), 0s);
  limiter.Failed("alice", "a");
  EXPECT_EQ(limiter.Check("alice", "a"), 0s) << "one failure after the slate was wiped is free";
}

TEST_F(LoginLimiterTest, TablesAreBoundedAndEvictTheOldest) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 5; ++i) limiter.Failed("target", "10.0.0.1");
  for (int i = 0; i < 1000; ++i) {
    clock_.Advance(1ms);
    limiter.Failed("random-" + std::to_string(i), "10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  }
  EXPECT_EQ(limiter.TrackedUsers(), 100u);
  EXPECT_EQ(limiter.TrackedAddresses(), 100u);
  EXPECT_EQ(limiter.Check("target", "10.0.0.1"), 0s) << "evicted: the oldest record";
  // A very long name is a bounded key.
  limiter.Failed(std::string(100'000, 'x'), "b");
  EXPECT_EQ(limiter.TrackedUsers(), 100u);
}

TEST(LoginLimiterAddressTest, PortIsDropped) {
  EXPECT_EQ(LoginLimiter::AddressOf("203.0.113.7:51234"), "203.0.113.7");
  EXPECT_EQ(LoginLimiter::AddressOf("::1:51234"), "::1");
  EXPECT_EQ(LoginLimiter::AddressOf("?"), "?");
  EXPECT_EQ(LoginLimiter::AddressOf("host:"), "host:");
}

}  // namespace
}  // namespace ew::auth
