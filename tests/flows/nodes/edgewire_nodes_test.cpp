// The Edgewire nodes against the contract (flows-contract.md, "Edgewire node props") through a
// FakeHost behind the real Host port.
#include <gtest/gtest.h>

#include "tests/flows/support/flow_harness.hpp"

namespace ew::flows::testing {
namespace {

TEST(GpioInNode, EdgesBecomeMessages) {
  Harness h;
  h.host.levels["17"] = 1;
  h.LoadOrFail({N("g", "edgewire-gpio-in", {{"out"}}, {{"line", "17"}, {"pull", "up"}, {"edge", "both"}, {"debounce", 5}, {"read", true}}),
                Sink("out")});
  ASSERT_EQ(h.host.watches.count("f1/g"), 1u);
  EXPECT_EQ(h.host.watches["f1/g"].spec.pull, "up");
  EXPECT_EQ(h.host.watches["f1/g"].spec.debounce, std::chrono::milliseconds(5));
  h.Settle();
  ASSERT_EQ(h.Seen("out").size(), 1u);  // initial read
  EXPECT_EQ(h.Seen("out")[0]["payload"], 1);
  h.host.Edge("17", 0, 1234);
  h.Settle();
  ASSERT_EQ(h.Seen("out").size(), 2u);
  json m = h.Seen("out")[1];
  EXPECT_EQ(m["topic"], "gpio/17");
  EXPECT_EQ(m["payload"], 0);
  EXPECT_EQ(m["edge"], "falling");
  EXPECT_EQ(m["timestamp"], 1234);
}

TEST(GpioInNode, BadPropsAreRefused) {
  Harness h;
  auto loaded = h.Load({N("g", "edgewire-gpio-in", {}, {{"line", "17"}, {"edge", "sideways"}})});
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("edge"), std::string::npos);
}

TEST(GpioOutNode, PayloadFormsAndInitialLevel) {
  Harness h;
  h.LoadOrFail({N("o", "edgewire-gpio-out", {}, {{"line", "27"}, {"level", "1"}}), N("c", "catch", {{"err"}}), Sink("err")});
  ASSERT_EQ(h.host.writes.size(), 1u);  // initial level at start
  EXPECT_EQ(h.host.writes[0], std::make_pair(std::string("27"), 1));
  for (json p : {json(0), json(1), json("0"), json("1"), json(true), json(false), json(5)}) h.Inject("o", {{"payload", p}});
  std::vector<int> levels;
  for (size_t i = 1; i < h.host.writes.size(); ++i) levels.push_back(h.host.writes[i].second);
  EXPECT_EQ(levels, (std::vector<int>{0, 1, 0, 1, 1, 0, 1}));
  h.Inject("o", {{"payload", "maybe"}});
  EXPECT_EQ(h.Seen("err").size(), 1u);
}

TEST(GpioOutNode, BusyLineIsAnErrorToCatch) {
  Harness h;
  h.LoadOrFail({N("o", "edgewire-gpio-out", {}, {{"line", "busy"}}), N("c", "catch", {{"err"}}), Sink("err")});
  h.Inject("o", {{"payload", 1}});
  ASSERT_EQ(h.Seen("err").size(), 1u);
  EXPECT_NE(h.Seen("err")[0]["error"]["message"].get<std::string>().find("busy"), std::string::npos);
}

TEST(FunctionCallNode, ResultBecomesPayloadErrorsGoToCatch) {
  Harness h;
  h.LoadOrFail({N("f", "edgewire-function", {{"out"}}, {{"function", "blink"}, {"placement", "cloud"}, {"timeout", 5}}),
                Sink("out"), N("c", "catch", {{"err"}}), Sink("err")});
  h.Inject("f", {{"payload", {{"x", 1}}}, {"topic", "keep"}});
  ASSERT_EQ(h.host.calls.size(), 1u);
  EXPECT_EQ(h.host.calls[0].function, "blink");
  EXPECT_EQ(h.host.calls[0].placement, "cloud");
  EXPECT_EQ(h.host.calls[0].event["x"], 1);
  EXPECT_EQ(h.host.calls[0].timeout, std::chrono::seconds(5));
  h.host.pending_calls[0](json{{"ok", true}});
  h.Settle();
  ASSERT_EQ(h.Seen("out").size(), 1u);
  EXPECT_EQ(h.Seen("out")[0]["payload"]["ok"], true);
  EXPECT_EQ(h.Seen("out")[0]["topic"], "keep");
  h.Inject("f", {{"payload", 2}});
  h.host.pending_calls[1](ew::Unavailable("no runtime"));
  h.Settle();
  ASSERT_EQ(h.Seen("err").size(), 1u);
  EXPECT_EQ(h.Seen("err")[0]["error"]["message"], "no runtime");
}

TEST(FunctionCallNode, ResultsLeaveInMessageOrder) {
  Harness h;
  h.LoadOrFail({N("f", "edgewire-function", {{"out"}}, {{"function", "f"}}), Sink("out")});
  h.Inject("f", {{"payload", 1}});
  h.Inject("f", {{"payload", 2}});
  h.host.pending_calls[1](json("second"));  // the later call finishes first
  h.Settle();
  EXPECT_TRUE(h.Seen("out").empty());
  h.host.pending_calls[0](json("first"));
  h.Settle();
  ASSERT_EQ(h.Seen("out").size(), 2u);
  EXPECT_EQ(h.Seen("out")[0]["payload"], "first");
  EXPECT_EQ(h.Seen("out")[1]["payload"], "second");
}

TEST(FunctionCallNode, InFlightCallsAreBounded) {
  Harness h;
  h.LoadOrFail({N("f", "edgewire-function", {{"out"}}, {{"function", "slow"}}), Sink("out")});
  for (int i = 0; i < 20; ++i) h.Inject("f", {{"payload", i}});
  EXPECT_EQ(h.host.calls.size(), 8u);
  h.host.pending_calls[0](json(0));
  h.Settle();
  EXPECT_EQ(h.host.calls.size(), 9u);
}

}  // namespace
}  // namespace ew::flows::testing
