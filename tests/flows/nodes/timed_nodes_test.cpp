// Nodes driven by time, on a ManualClock: inject (repeat, once + onceDelay, crontab), delay
// (fixed, random, rate limit queue/drop, per topic), trigger. Behaviour from the node help in
// Node-RED 4.1 (inject, delay, trigger).
#include <gtest/gtest.h>

#include "tests/flows/support/flow_harness.hpp"

namespace ew::flows::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// inject help: "once after n seconds", then "repeat interval"; props [{p, v, vt}].
TEST(InjectNode, OnceThenRepeatWithTypedProps) {
  Harness h;
  h.LoadOrFail({N("i", "inject", {{"out"}},
                  {{"props", json::array({{{"p", "payload"}}, {{"p", "topic"}, {"vt", "str"}}, {{"p", "extra.n"}, {"v", "7"}, {"vt", "num"}},
                                          {{"p", "j"}, {"v", "{\"a\":true}"}, {"vt", "json"}}})},
                   {"payload", "5"}, {"payloadType", "num"}, {"topic", "tick"}, {"repeat", "2"}, {"once", true},
                   {"onceDelay", "0.5"}}),
                Sink("out")});
  h.Advance(milliseconds(499));
  EXPECT_TRUE(h.Seen("out").empty());
  h.Advance(milliseconds(1));
  ASSERT_EQ(h.Seen("out").size(), 1u);
  json m = h.Seen("out")[0];
  EXPECT_EQ(m["payload"], 5);
  EXPECT_EQ(m["topic"], "tick");
  EXPECT_EQ(m["extra"]["n"], 7);
  EXPECT_EQ(m["j"]["a"], true);
  h.Advance(seconds(2));
  h.Advance(seconds(2));
  EXPECT_EQ(h.Seen("out").size(), 3u);
}

TEST(InjectNode, CrontabFiresAtTheMinute) {
  Harness h;  // ManualClock starts at 1700000000 = 2023-11-14 22:13:20 UTC
  setenv("TZ", "UTC", 1);
  tzset();
  h.LoadOrFail({N("i", "inject", {{"out"}}, {{"crontab", "*/5 * * * *"}, {"payload", ""}, {"payloadType", "date"}}), Sink("out")});
  h.Advance(seconds(99));  // 22:14:59
  EXPECT_TRUE(h.Seen("out").empty());
  h.Advance(seconds(1));  // 22:15:00
  ASSERT_EQ(h.Seen("out").size(), 1u);
  EXPECT_EQ(h.Seen("out")[0]["payload"], (1'700'000'000LL + 100) * 1000);
  h.Advance(seconds(300));
  EXPECT_EQ(h.Seen("out").size(), 2u);
}

TEST(InjectNode, BadCrontabIsRefused) {
  Harness h;
  auto loaded = h.Load({N("i", "inject", {}, {{"crontab", "*/5 * * MON"}})});
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("crontab"), std::string::npos);
}

// delay help: "Delay each message" by a fixed time; msg.reset clears, msg.flush sends now.
TEST(DelayNode, FixedDelayResetAndFlush) {
  Harness h;
  h.LoadOrFail({N("d", "delay", {{"out"}}, {{"pauseType", "delay"}, {"timeout", "2"}, {"timeoutUnits", "seconds"}}), Sink("out")});
  h.Inject("d", {{"payload", 1}});
  h.Advance(milliseconds(1999));
  EXPECT_TRUE(h.Seen("out").empty());
  h.Advance(milliseconds(1));
  ASSERT_EQ(h.Seen("out").size(), 1u);
  h.Inject("d", {{"payload", 2}});
  h.Inject("d", {{"reset", true}});
  h.Advance(seconds(5));
  EXPECT_EQ(h.Seen("out").size(), 1u);
  h.Inject("d", {{"payload", 3}});
  h.Inject("d", {{"flush", true}});
  ASSERT_EQ(h.Seen("out").size(), 2u);
  EXPECT_EQ(h.Seen("out")[1]["payload"], 3);
}

TEST(DelayNode, RandomDelayWithinBounds) {
  Harness h;
  h.LoadOrFail({N("d", "delay", {{"out"}}, {{"pauseType", "random"}, {"randomFirst", "1"}, {"randomLast", "2"}, {"randomUnits", "seconds"}}),
                Sink("out")});
  for (int i = 0; i < 20; ++i) h.Inject("d", {{"payload", i}});
  h.Advance(milliseconds(999));
  EXPECT_TRUE(h.Seen("out").empty());
  h.Advance(milliseconds(1001));
  EXPECT_EQ(h.Seen("out").size(), 20u);
}

// delay help, "Rate Limit": "all messages" at most N per interval; queued, or with "drop
// intermediate messages" the ones that arrive too soon are dropped.
TEST(DelayNode, RateLimitQueuesOrDrops) {
  for (bool drop : {false, true}) {
    Harness h;
    h.LoadOrFail({N("d", "delay", {{"out"}}, {{"pauseType", "rate"}, {"rate", "1"}, {"nbRateUnits", "1"}, {"rateUnits", "second"},
                                              {"drop", drop}}),
                  Sink("out")});
    for (int i = 0; i < 5; ++i) h.Inject("d", {{"payload", i}});
    EXPECT_EQ(h.Seen("out").size(), 1u);
    for (int s = 0; s < 6; ++s) h.Advance(seconds(1));
    if (drop) {
      EXPECT_EQ(h.Seen("out").size(), 1u);
    } else {
      ASSERT_EQ(h.Seen("out").size(), 5u);
      EXPECT_EQ(h.Seen("out")[4]["payload"], 4);  // in order
    }
  }
}

// delay help, "Rate Limit for each msg.topic": "release the most recent message for each topic"
// (timed) at the rate.
TEST(DelayNode, PerTopicKeepsTheNewest) {
  Harness h;
  h.LoadOrFail({N("d", "delay", {{"out"}}, {{"pauseType", "timed"}, {"rate", "1"}, {"nbRateUnits", "1"}, {"rateUnits", "second"}}),
                Sink("out")});
  h.Inject("d", {{"topic", "a"}, {"payload", 1}});
  h.Inject("d", {{"topic", "a"}, {"payload", 2}});
  h.Inject("d", {{"topic", "b"}, {"payload", 3}});
  h.Advance(seconds(1));
  ASSERT_EQ(h.Seen("out").size(), 2u);
  EXPECT_EQ(h.Seen("out")[0]["payload"], 2);
  EXPECT_EQ(h.Seen("out")[1]["payload"], 3);
}

// trigger help: "send 1, then wait 250ms, then send 0"; "extend delay if new message arrives";
// a second output for the second message; msg.reset stops it.
TEST(TriggerNode, SendWaitSend) {
  Harness h;
  h.LoadOrFail({N("t", "trigger", {{"out"}}, {{"op1", "1"}, {"op1type", "num"}, {"op2", "0"}, {"op2type", "num"}, {"duration", "250"},
                                              {"units", "ms"}, {"extend", false}}),
                Sink("out")});
  h.Inject("t", {{"payload", "go"}});
  h.Inject("t", {{"payload", "ignored while waiting"}});
  ASSERT_EQ(h.Seen("out").size(), 1u);
  EXPECT_EQ(h.Seen("out")[0]["payload"], 1);
  h.Advance(milliseconds(250));
  ASSERT_EQ(h.Seen("out").size(), 2u);
  EXPECT_EQ(h.Seen("out")[1]["payload"], 0);
}

TEST(TriggerNode, ExtendSecondOutputAndReset) {
  Harness h;
  h.LoadOrFail({N("t", "trigger", {{"first"}, {"second"}},
                  {{"op1", ""}, {"op1type", "pay"}, {"op2", "off"}, {"op2type", "str"}, {"duration", "1"}, {"units", "s"},
                   {"extend", true}, {"outputs", 2}}),
                Sink("first"), Sink("second")});
  h.Inject("t", {{"payload", "on"}});
  h.Advance(milliseconds(800));
  h.Inject("t", {{"payload", "on again"}});  // extends the wait
  h.Advance(milliseconds(800));
  EXPECT_TRUE(h.Seen("second").empty());
  h.Advance(milliseconds(200));
  ASSERT_EQ(h.Seen("second").size(), 1u);
  EXPECT_EQ(h.Seen("second")[0]["payload"], "off");
  EXPECT_EQ(h.Seen("first").size(), 1u);
  EXPECT_EQ(h.Seen("first")[0]["payload"], "on");
  h.Inject("t", {{"payload", "x"}});
  h.Inject("t", {{"reset", true}});
  h.Advance(seconds(2));
  EXPECT_EQ(h.Seen("second").size(), 1u);
}

TEST(TriggerNode, NegativeDurationResends) {
  Harness h;
  h.LoadOrFail({N("t", "trigger", {{"out"}}, {{"op1", "ping"}, {"op1type", "str"}, {"op2type", "nul"}, {"duration", "-1"}, {"units", "s"}}),
                Sink("out")});
  h.Inject("t", {{"payload", 1}});
  h.Advance(seconds(1));
  h.Advance(seconds(1));
  EXPECT_EQ(h.Seen("out").size(), 3u);
  h.Inject("t", {{"reset", true}});
  h.Advance(seconds(3));
  EXPECT_EQ(h.Seen("out").size(), 3u);
}

}  // namespace
}  // namespace ew::flows::testing
