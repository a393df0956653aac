// Message semantics of the flow runtime against Node-RED's documented behaviour.
#include "flows/runtime/flow_runtime.hpp"

#include <gtest/gtest.h>

#include "flows/runtime/supported_types.hpp"
#include "tests/flows/support/flow_harness.hpp"

namespace ew::flows::testing {
namespace {

json SetPayload(const std::string& value) {
  return {{"rules", json::array({{{"t", "set"}, {"p", "payload"}, {"pt", "msg"}, {"to", value}, {"tot", "str"}}})}};
}

// "Going async" (https://nodered.org/blog/2019/08/16/going-async): since 1.0 every message hop is
// asynchronous: send() returns before the next node handles the message.
TEST(FlowRuntime, EveryHopIsAsynchronous) {
  Harness h;
  h.LoadOrFail({N("a", "change", {{"out"}}, SetPayload("x")), Sink("out")});
  ASSERT_TRUE(h.runtime.DeliverTo("a", {{"_msgid", "m1"}}));
  EXPECT_TRUE(h.host.debug.empty());  // nothing ran inside DeliverTo
  h.io.restart();
  h.io.run_one();                      // node a handles the message, queues it at out
  EXPECT_TRUE(h.host.debug.empty());
  h.Settle();
  ASSERT_EQ(h.Seen("out").size(), 1u);
  EXPECT_EQ(h.Seen("out")[0]["payload"], "x");
  EXPECT_EQ(h.Seen("out")[0]["_msgid"], "m1");
}

// https://nodered.org/docs/creating-nodes/node-js#sending-messages: "If the node is sending a
// message to more than one wire, the runtime clones it for all but the first": changing the
// message in one branch is not seen in the other.
TEST(FlowRuntime, FanOutGivesEachWireItsOwnCopy) {
  Harness h;
  h.LoadOrFail({N("src", "link in", {{"a", "b"}}), N("a", "change", {{"oa"}}, SetPayload("A")),
                N("b", "change", {{"ob"}}, SetPayload("B")), Sink("oa"), Sink("ob")});
  h.Inject("src", {{"payload", "orig"}, {"deep", {{"x", 1}}}});
  ASSERT_EQ(h.Seen("oa").size(), 1u);
  ASSERT_EQ(h.Seen("ob").size(), 1u);
  EXPECT_EQ(h.Seen("oa")[0]["payload"], "A");
  EXPECT_EQ(h.Seen("ob")[0]["payload"], "B");
  EXPECT_EQ(h.Seen("oa")[0]["_msgid"], h.Seen("ob")[0]["_msgid"]);  // a clone keeps _msgid
  EXPECT_EQ(h.Seen("ob")[0]["deep"]["x"], 1);
}

// A message created by a node (inject) gets a fresh _msgid (RED.util.generateId: 16 hex digits).
TEST(FlowRuntime, NewMessagesGetAMsgId) {
  Harness h;
  h.LoadOrFail({N("i", "inject", {{"out"}}, {{"once", true}, {"onceDelay", 0}, {"payload", "p"}, {"payloadType", "str"}}),
                Sink("out")});
  h.Advance(std::chrono::milliseconds(1));
  ASSERT_EQ(h.Seen("out").size(), 1u);
  std::string id = h.Seen("out")[0]["_msgid"];
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
}

// https://nodered.org/docs/user-guide/handling-errors: a catch node gets the message with
// msg.error = {message, source: {id, type, name, count}}; scope limits which nodes it catches.
TEST(FlowRuntime, ErrorsGoToCatchNodesInScope) {
  Harness h;
  h.LoadOrFail({N("j", "json", {{"never"}}, {{"name", "parser"}}), Sink("never"),
                N("c_all", "catch", {{"all"}}, {{"scope", nullptr}}), Sink("all"),
                N("c_other", "catch", {{"other"}}, {{"scope", json::array({"someone-else"})}}), Sink("other"),
                N("c_listed", "catch", {{"listed"}}, {{"scope", json::array({"j"})}}), Sink("listed"),
                N("c_tab2", "catch", {{"tab2"}}, {{"scope", nullptr}}, "t2"), Sink("tab2", "t2")});
  h.Inject("j", {{"payload", "{not json"}});
  EXPECT_TRUE(h.Seen("never").empty());
  ASSERT_EQ(h.Seen("all").size(), 1u);
  ASSERT_EQ(h.Seen("listed").size(), 1u);
  EXPECT_TRUE(h.Seen("other").empty());
  EXPECT_TRUE(h.Seen("tab2").empty());  // catch nodes see their own tab only
  json error = h.Seen("all")[0]["error"];
  EXPECT_FALSE(error["message"].get<std::string>().empty());
  EXPECT_EQ(error["source"]["id"], "j");
  EXPECT_EQ(error["source"]["type"], "json");
  EXPECT_EQ(error["source"]["name"], "parser");
  EXPECT_EQ(error["source"]["count"], 1);
  EXPECT_EQ(h.Seen("all")[0]["payload"], "{not json");
}

// Handling errors: a catch node set to "uncaught" only gets errors no other catch node handled.
TEST(FlowRuntime, UncaughtCatchOnlyWhenNoOtherCatches) {
  Harness h;
  h.LoadOrFail({N("j", "json"), N("j2", "json"), N("c", "catch", {{"caught"}}, {{"scope", json::array({"j"})}}),
                Sink("caught"), N("u", "catch", {{"uncaught"}}, {{"scope", nullptr}, {"uncaught", true}}),
                Sink("uncaught")});
  h.Inject("j", {{"payload", "{bad"}});
  EXPECT_EQ(h.Seen("caught").size(), 1u);
  EXPECT_TRUE(h.Seen("uncaught").empty());
  h.Inject("j2", {{"payload", "{bad"}});
  EXPECT_EQ(h.Seen("uncaught").size(), 1u);
}

// An error loop (catch wired back into the failing node) stops after 10 rounds, as Node-RED does.
TEST(FlowRuntime, ErrorLoopIsBroken) {
  Harness h;
  h.LoadOrFail({N("j", "json"), N("c", "catch", {{"j", "seen"}}, {{"scope", nullptr}}), Sink("seen")});
  h.Inject("j", {{"payload", "{bad"}});
  EXPECT_EQ(h.Seen("seen").size(), 10u);
}

// https://nodered.org/docs/user-guide/nodes#status: status nodes get {status: {fill, shape,
// text, source: {id, type, name}}} for the nodes in their scope; the host sees every status.
TEST(FlowRuntime, StatusGoesToStatusNodesAndHost) {
  Harness h;
  h.LoadOrFail({N("g", "edgewire-gpio-out", {}, {{"line", "17"}}), N("s", "status", {{"st"}}, {{"scope", nullptr}}),
                Sink("st")});
  h.Inject("g", {{"payload", 1}});
  ASSERT_FALSE(h.Seen("st").empty());
  json status = h.Seen("st").back()["status"];
  EXPECT_EQ(status["fill"], "green");
  EXPECT_EQ(status["text"], "1");
  EXPECT_EQ(status["source"]["id"], "g");
  EXPECT_EQ(status["source"]["type"], "edgewire-gpio-out");
  ASSERT_FALSE(h.host.statuses.empty());
  EXPECT_EQ(h.host.statuses.back().first, "g");
}

// Complete node (https://nodered.org/docs/user-guide/nodes#complete): triggered when a node in
// its scope finishes a message (done()); for delay that is when the message leaves it.
TEST(FlowRuntime, CompleteNodesSeeFinishedMessages) {
  Harness h;
  h.LoadOrFail({N("a", "change", {{}}, SetPayload("x")),
                N("d", "delay", {{}}, {{"pauseType", "delay"}, {"timeout", 1}, {"timeoutUnits", "seconds"}}),
                N("c", "complete", {{"done"}}, {{"scope", json::array({"a", "d"})}}), Sink("done")});
  h.Inject("a", {{"payload", "in"}});
  ASSERT_EQ(h.Seen("done").size(), 1u);
  h.Inject("d", {{"payload", "later"}});
  EXPECT_EQ(h.Seen("done").size(), 1u);
  h.Advance(std::chrono::seconds(1));
  ASSERT_EQ(h.Seen("done").size(), 2u);
  EXPECT_EQ(h.Seen("done")[1]["payload"], "later");
}

// send([[m1, m2], null, m3]): an array per output, arrays of messages per output
// (https://nodered.org/docs/creating-nodes/node-js#multiple-outputs). The switch node with
// checkall sends one message on several outputs this way.
TEST(FlowRuntime, SendToSeveralOutputs) {
  Harness h;
  h.LoadOrFail({N("sw", "switch", {{"o1"}, {"o2"}, {"o3"}},
                  {{"property", "payload"}, {"propertyType", "msg"}, {"checkall", "true"},
                   {"rules", json::array({{{"t", "gt"}, {"v", "1"}, {"vt", "num"}},
                                          {{"t", "lt"}, {"v", "0"}, {"vt", "num"}},
                                          {{"t", "gt"}, {"v", "2"}, {"vt", "num"}}})}}),
                Sink("o1"), Sink("o2"), Sink("o3")});
  h.Inject("sw", {{"payload", 5}});
  EXPECT_EQ(h.Seen("o1").size(), 1u);
  EXPECT_EQ(h.Seen("o2").size(), 0u);
  EXPECT_EQ(h.Seen("o3").size(), 1u);
}

// Back-pressure: a node's input queue holds at most max_queue messages; a flood beyond that is
// dropped and counted instead of growing memory.
TEST(FlowRuntime, FullInputQueueDropsAndCounts) {
  runtime::RuntimeOptions options;
  options.max_queue = 10;
  Harness h(options);
  h.LoadOrFail({N("a", "change", {{"out"}}, SetPayload("x")), Sink("out")});
  for (int i = 0; i < 25; ++i) h.runtime.DeliverTo("a", {{"payload", i}});
  EXPECT_EQ(h.runtime.Stats("a").dropped, 15u);
  EXPECT_EQ(h.runtime.dropped(), 15u);
  h.Settle();
  ASSERT_EQ(h.Seen("out").size(), 10u);
  EXPECT_EQ(h.runtime.Stats("a").received, 10u);
}

// A flooding source (an inject every 1 ms into a slow consumer) never holds more than the
// bounds: delay node queues are capped too.
TEST(FlowRuntime, FloodStaysBounded) {
  runtime::RuntimeOptions options;
  options.max_queue = 100;
  Harness h(options);
  h.LoadOrFail({N("i", "inject", {{"a"}}, {{"repeat", "0.001"}, {"payload", ""}, {"payloadType", "date"}}),
                N("a", "change", {{"out"}}, SetPayload("x")), N("out", "debug", {}, {{"active", false}})});
  for (int i = 0; i < 2000; ++i) {
    h.clock.Advance(std::chrono::milliseconds(1));
    h.runtime.timers().RunDue();  // the source fires without the consumers getting a turn
  }
  EXPECT_LE(h.runtime.Stats("a").received, 100u);
  EXPECT_GE(h.runtime.Stats("a").dropped, 1800u);
}

// Deploy-time errors name node id, type and tab; nothing runs.
TEST(FlowRuntime, UnknownTypeAndJsonataAreRefusedNamingTheNode) {
  {
    Harness h;
    auto loaded = h.Load({N("fn1", "exec", {}, {}, "tabA")});
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().message.find("fn1"), std::string::npos);
    EXPECT_NE(loaded.error().message.find("exec"), std::string::npos);
    EXPECT_NE(loaded.error().message.find("tabA"), std::string::npos);
  }
  {
    Harness h;
    auto loaded = h.Load({N("c1", "change", {},
                            {{"rules", json::array({{{"t", "set"}, {"p", "payload"}, {"to", "$now()"}, {"tot", "jsonata"}}})}},
                            "tabB")});
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().message.find("c1"), std::string::npos);
    EXPECT_NE(loaded.error().message.find("JSONata"), std::string::npos);
    EXPECT_NE(loaded.error().message.find("tabB"), std::string::npos);
  }
  {
    Harness h;
    auto loaded = h.Load({N("a", "change", {{"ghost"}}, SetPayload("x"))});
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().message.find("ghost"), std::string::npos);
  }
}

// Cross wires: output ports with an outbound topic publish through the host; inbound topics
// deliver to their targets.
TEST(FlowRuntime, CrossWiresGoThroughTheHost) {
  Harness h;
  h.LoadOrFail({N("a", "change", {{"out"}}, SetPayload("x")), Sink("out"), Sink("in_sink")},
               {}, {{"a", 0, "ew.flow.f1.wire.a.0"}}, {{"ew.flow.f1.wire.z.0", {"in_sink"}}});
  h.Inject("a", {{"payload", "p"}});
  ASSERT_EQ(h.host.published.size(), 1u);
  EXPECT_EQ(h.host.published[0].first, "ew.flow.f1.wire.a.0");
  EXPECT_EQ(h.host.published[0].second["payload"], "x");
  EXPECT_EQ(h.Seen("out").size(), 1u);
  h.runtime.DeliverInbound("ew.flow.f1.wire.z.0", {{"payload", "from afar"}});
  h.Settle();
  ASSERT_EQ(h.Seen("in_sink").size(), 1u);
  EXPECT_EQ(h.Seen("in_sink")[0]["payload"], "from afar");
}

TEST(FlowRuntime, StopClosesNodesAndDropsQueuedWork) {
  Harness h;
  h.LoadOrFail({N("g", "edgewire-gpio-in", {{"out"}}, {{"line", "5"}}), Sink("out")});
  EXPECT_EQ(h.host.watches.size(), 1u);
  h.runtime.DeliverTo("out", {{"payload", 1}});
  h.runtime.Stop();
  h.Settle();
  EXPECT_TRUE(h.host.debug.empty());
  EXPECT_EQ(h.host.released, std::vector<std::string>{"f1/g"});
}

TEST(FlowRuntime, StartFailureNamesTheNodeAndClosesTheOthers) {
  Harness h;
  auto loaded = h.Load({N("ok", "edgewire-gpio-in", {}, {{"line", "5"}}), N("bad", "edgewire-gpio-in", {}, {{"line", "missing"}})});
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, ErrorCode::kNotFound);
  EXPECT_NE(loaded.error().message.find("bad"), std::string::npos);
  EXPECT_TRUE(h.host.watches.empty());
}

TEST(SupportedTypes, ListMatchesTheRegistry) {
  for (auto type : runtime::SupportedNodeTypes()) {
    if (type == "comment") continue;
    EXPECT_NE(nodes::BuiltinNodes().Find(std::string(type)), nullptr) << type;
  }
  for (const auto& type : nodes::BuiltinNodes().Types()) EXPECT_TRUE(runtime::IsSupportedNodeType(type)) << type;
  EXPECT_TRUE(runtime::IsSupportedNodeType("function"));  // in Duktape (flows/js)
  EXPECT_FALSE(runtime::IsSupportedNodeType("exec"));
}

}  // namespace
}  // namespace ew::flows::testing
