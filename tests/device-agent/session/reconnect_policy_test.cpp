#include "device-agent/session/reconnect_policy.hpp"

#include <deque>

#include <gtest/gtest.h>

namespace ew::agent::session {
namespace {

using std::chrono::milliseconds;
using Action = ReconnectStep::Action;

Backoff::RandomSource Fixed(double value) {
  return [value] { return value; };
}

ReconnectPolicyConfig Config() {
  ReconnectPolicyConfig config;
  config.probe_interval = milliseconds(750);
  config.probe_jitter = 1.0 / 3.0;
  config.retry_initial = milliseconds(500);
  config.retry_max = milliseconds(30'000);
  config.refused_initial = milliseconds(30'000);
  config.refused_max = milliseconds(600'000);
  config.stable_after = milliseconds(10'000);
  return config;
}

TEST(ReconnectPolicyTest, AnUnreachableConductorIsProbedOnAShortIntervalHoweverLongItStaysAway) {
  ManualClock clock;
  ReconnectPolicy policy(Config(), clock, Fixed(0.999));
  policy.OnReady();
  ReconnectStep step = policy.OnDisconnected(DisconnectKind::kUnreachable, "connection lost");
  EXPECT_EQ(step.action, Action::kProbe);
  EXPECT_EQ(policy.state(), ReconnectState::kProbing);
  // An hour of failed probes: the interval never grows past 750 ms + 1/3.
  for (int i = 0; i < 4800; ++i) {
    milliseconds delay = policy.OnProbeFailed();
    ASSERT_LE(delay, milliseconds(1000));
    ASSERT_GE(delay, milliseconds(500));
    clock.Advance(delay);
  }
  // A failed full connect after a probe succeeded (the conductor's port answered, then
  // dropped): back to probing at the same short interval.
  step = policy.OnDisconnected(DisconnectKind::kUnreachable, "connection refused");
  EXPECT_EQ(step.action, Action::kProbe);
  EXPECT_LE(step.delay, milliseconds(1000));
}

TEST(ReconnectPolicyTest, ProbeIntervalsAreJitteredWithinAThirdEitherSide) {
  ManualClock clock;
  std::deque<double> values = {0.0, 0.5, 1.0};
  ReconnectPolicy policy(Config(), clock, [&values] {
    double v = values.front();
    values.pop_front();
    return v;
  });
  EXPECT_EQ(policy.OnDisconnected(DisconnectKind::kUnreachable, "x").delay, milliseconds(500));
  EXPECT_EQ(policy.OnProbeFailed(), milliseconds(750));
  EXPECT_EQ(policy.OnProbeFailed(), milliseconds(1000));
}

TEST(ReconnectPolicyTest, ARefusalBacksOffLongAndDoublesUpToTheCap) {
  ManualClock clock;
  ReconnectPolicy policy(Config(), clock, Fixed(1.0));
  std::vector<int64_t> expected = {30'000, 60'000, 120'000, 240'000, 480'000, 600'000, 600'000};
  for (int64_t want : expected) {
    ReconnectStep step = policy.OnDisconnected(DisconnectKind::kRefused,
                                               "join refused: wamp.error.authentication_failed: unknown board");
    EXPECT_EQ(step.action, Action::kConnect);
    EXPECT_EQ(step.delay.count(), want);
    EXPECT_EQ(policy.state(), ReconnectState::kRefused);
  }
  EXPECT_EQ(policy.refusals(), expected.size());
  EXPECT_EQ(policy.attempt(), static_cast<int>(expected.size()));
  EXPECT_EQ(policy.last_reason(), "join refused: wamp.error.authentication_failed: unknown board");
}

TEST(ReconnectPolicyTest, OtherFailuresUseTheExponentialBackoff) {
  ManualClock clock;
  ReconnectPolicy policy(Config(), clock, Fixed(1.0));
  EXPECT_EQ(policy.OnDisconnected(DisconnectKind::kFailed, "no session after 15s").delay, milliseconds(500));
  EXPECT_EQ(policy.OnDisconnected(DisconnectKind::kFailed, "register refused").delay, milliseconds(1000));
  EXPECT_EQ(policy.state(), ReconnectState::kBackingOff);
}

TEST(ReconnectPolicyTest, ASessionThatStayedUpLongEnoughStartsTheBackoffsOver) {
  ManualClock clock;
  ReconnectPolicy policy(Config(), clock, Fixed(1.0));
  policy.OnDisconnected(DisconnectKind::kFailed, "a");
  policy.OnDisconnected(DisconnectKind::kFailed, "b");
  // Up for less than stable_after: the window keeps growing.
  policy.OnReady();
  clock.Advance(milliseconds(9'000));
  EXPECT_EQ(policy.OnDisconnected(DisconnectKind::kFailed, "c").delay, milliseconds(2000));
  // Up for stable_after: starts over.
  policy.OnReady();
  clock.Advance(milliseconds(10'000));
  EXPECT_EQ(policy.OnDisconnected(DisconnectKind::kFailed, "d").delay, milliseconds(500));
  EXPECT_EQ(policy.connections(), 2u);
}

TEST(ReconnectPolicyTest, BeingReadyClearsTheRefusals) {
  ManualClock clock;
  ReconnectPolicy policy(Config(), clock, Fixed(0.5));
  policy.OnDisconnected(DisconnectKind::kRefused, "wamp.error.authentication_failed");
  EXPECT_EQ(policy.refusals(), 1u);
  policy.OnConnecting();
  EXPECT_EQ(policy.state(), ReconnectState::kConnecting);
  policy.OnReady();
  EXPECT_EQ(policy.state(), ReconnectState::kConnected);
  EXPECT_EQ(policy.refusals(), 0u);
  EXPECT_EQ(ReconnectStateName(policy.state()), "connected");
}

TEST(ReconnectPolicyTest, RefusalsAreTheConductorsAuthenticationAnswersAndABoardDeletion) {
  EXPECT_TRUE(IsRefusal("wamp.error.authentication_failed: unknown board or wrong credentials"));
  EXPECT_TRUE(IsRefusal("wamp.error.authentication_failed"));
  EXPECT_TRUE(IsRefusal("ew.close.board_deleted: this board was deleted"));
  EXPECT_TRUE(IsRefusal("wamp.error.no_such_realm: no realm x"));
  EXPECT_FALSE(IsRefusal("wamp.close.system_shutdown"));
  EXPECT_FALSE(IsRefusal("wamp.error.authentication_failedx"));
  EXPECT_FALSE(IsRefusal("Connection refused"));
  EXPECT_FALSE(IsRefusal(""));
}

}  // namespace
}  // namespace ew::agent::session
