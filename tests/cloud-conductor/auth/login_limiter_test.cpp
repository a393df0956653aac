// LoginLimiter with a ManualClock: free failures, doubling delays with a cap, per user and per
// address, reset on success, forgetting, and the bounded tables.
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
  EXPECT_GT(limiter.Check("alice", "10.0.0.2"), 0s) << "the user is limited from any address";
  EXPECT_EQ(limiter.Check("bob", "10.0.0.1"), 0s) << "the address has failures left";
}

TEST_F(LoginLimiterTest, AnAddressGuessingManyNamesIsLimited) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 11; ++i) limiter.Failed("user" + std::to_string(i), "10.0.0.9");
  EXPECT_EQ(limiter.Check("someone-else", "10.0.0.9"), 1s);
  EXPECT_EQ(limiter.Check("someone-else", "10.0.0.8"), 0s);
}

TEST_F(LoginLimiterTest, SuccessClearsTheUserButNotTheAddress) {
  LoginLimiter limiter(clock_, Options());
  for (int i = 0; i < 11; ++i) limiter.Failed("alice", "10.0.0.1");
  clock_.Advance(3000s);  // past every delay, before forget_after
  limiter.Succeeded("alice");
  limiter.Failed("alice", "10.0.0.2");
  EXPECT_EQ(limiter.Check("alice", "10.0.0.2"), 0s) << "the user's count started over";
  limiter.Failed("bob", "10.0.0.1");
  EXPECT_GT(limiter.Check("bob", "10.0.0.1"), 0s) << "the address keeps its count";
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
  EXPECT_EQ(limiter.Check("target", "10.9.9.9"), 0s) << "evicted: the oldest record";
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
