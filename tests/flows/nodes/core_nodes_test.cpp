// Core nodes against the behaviour Node-RED documents for them (node help text in Node-RED 4.1,
// https://nodered.org/docs/user-guide/nodes and the "Core nodes" cookbook).
#include <gtest/gtest.h>

#include "tests/flows/support/flow_harness.hpp"

namespace ew::flows::testing {
namespace {

json Rule(json r) { return r; }

// change node help: "Set", "Change" (search and replace, a regex or a whole value), "Delete",
// "Move"; flow and global context as targets.
TEST(ChangeNode, SetChangeDeleteMove) {
  Harness h;
  h.LoadOrFail({N("c", "change", {{"out"}},
                  {{"rules", json::array({
                                 Rule({{"t", "set"}, {"p", "n"}, {"pt", "msg"}, {"to", "42"}, {"tot", "num"}}),
                                 Rule({{"t", "set"}, {"p", "obj"}, {"pt", "msg"}, {"to", "{\"a\":[1,2]}"}, {"tot", "json"}}),
                                 Rule({{"t", "change"}, {"p", "payload"}, {"pt", "msg"}, {"from", "cat"}, {"fromt", "str"}, {"to", "dog"}, {"tot", "str"}}),
                                 Rule({{"t", "change"}, {"p", "topic"}, {"pt", "msg"}, {"from", "^t(\\d+)$"}, {"fromt", "re"}, {"to", "topic-$1"}, {"tot", "str"}}),
                                 Rule({{"t", "set"}, {"p", "counter"}, {"pt", "flow"}, {"to", "n"}, {"tot", "msg"}}),
                                 Rule({{"t", "set"}, {"p", "fromflow"}, {"pt", "msg"}, {"to", "counter"}, {"tot", "flow"}}),
                                 Rule({{"t", "move"}, {"p", "gone"}, {"pt", "msg"}, {"to", "moved.here"}, {"tot", "msg"}}),
                                 Rule({{"t", "delete"}, {"p", "secret"}, {"pt", "msg"}}),
                                 Rule({{"t", "set"}, {"p", "flag"}, {"pt", "msg"}, {"to", "true"}, {"tot", "bool"}}),
                                 Rule({{"t", "set"}, {"p", "who"}, {"pt", "msg"}, {"to", "EDGEWIRE_BOARD"}, {"tot", "env"}}),
                                 Rule({{"t", "set"}, {"p", "when"}, {"pt", "msg"}, {"to", ""}, {"tot", "date"}}),
                             })}}),
                Sink("out")});
  h.Inject("c", {{"payload", "cat and cat"}, {"topic", "t12"}, {"gone", 5}, {"secret", "x"}});
  ASSERT_EQ(h.Seen("out").size(), 1u);
  json m = h.Seen("out")[0];
  EXPECT_EQ(m["n"], 42);
  EXPECT_EQ(m["obj"]["a"][1], 2);
  EXPECT_EQ(m["payload"], "dog and dog");
  EXPECT_EQ(m["topic"], "topic-12");
  EXPECT_EQ(m["fromflow"], 42);
  EXPECT_EQ(h.runtime.FlowContext("t1")["counter"], 42);
  EXPECT_FALSE(m.contains("gone"));
  EXPECT_EQ(m["moved"]["here"], 5);
  EXPECT_FALSE(m.contains("secret"));
  EXPECT_EQ(m["flag"], true);
  EXPECT_EQ(m["who"], "b1");
  EXPECT_EQ(m["when"], 1'700'000'000'000LL);  // the ManualClock's now, in ms
}

// change help: "Change" on a number replaces it when the whole value equals `from`.
TEST(ChangeNode, ChangeWholeNumber) {
  Harness h;
  h.LoadOrFail({N("c", "change", {{"out"}},
                  {{"rules", json::array({Rule({{"t", "change"}, {"p", "payload"}, {"pt", "msg"}, {"from", "1"},
                                                {"fromt", "num"}, {"to", "on"}, {"tot", "str"}})})}}),
                Sink("out")});
  h.Inject("c", {{"payload", 1}});
  h.Inject("c", {{"payload", 2}});
  EXPECT_EQ(h.Seen("out")[0]["payload"], "on");
  EXPECT_EQ(h.Seen("out")[1]["payload"], 2);
}

json SwitchRules(json rules, bool checkall = true) {
  return {{"property", "payload"}, {"propertyType", "msg"}, {"checkall", checkall ? "true" : "false"}, {"rules", rules}};
}

// switch help: rules eq (JavaScript ==), between (inclusive), contains, regex, is true/false,
// is null, is empty, is of type, otherwise; "stopping after first match" vs "checking all".
TEST(SwitchNode, Operators) {
  struct Case {
    json rule;
    json payload;
    bool match;
  };
  std::vector<Case> cases = {
      {{{"t", "eq"}, {"v", "5"}, {"vt", "str"}}, 5, true},
      {{{"t", "eq"}, {"v", "5"}, {"vt", "num"}}, "5", true},
      {{{"t", "neq"}, {"v", "5"}, {"vt", "num"}}, 6, true},
      {{{"t", "lt"}, {"v", "10"}, {"vt", "num"}}, 9.5, true},
      {{{"t", "lte"}, {"v", "10"}, {"vt", "num"}}, 10, true},
      {{{"t", "gt"}, {"v", "10"}, {"vt", "num"}}, 10, false},
      {{{"t", "gte"}, {"v", "10"}, {"vt", "num"}}, "11", true},
      {{{"t", "btwn"}, {"v", "10"}, {"vt", "num"}, {"v2", "1"}, {"v2t", "num"}}, 1, true},
      {{{"t", "btwn"}, {"v", "1"}, {"vt", "num"}, {"v2", "10"}, {"v2t", "num"}}, 11, false},
      {{{"t", "cont"}, {"v", "ell"}, {"vt", "str"}}, "hello", true},
      {{{"t", "regex"}, {"v", "^HEL"}, {"vt", "str"}, {"case", true}}, "hello", true},
      {{{"t", "regex"}, {"v", "^HEL"}, {"vt", "str"}, {"case", false}}, "hello", false},
      {{{"t", "true"}}, true, true},
      {{{"t", "true"}}, 1, false},
      {{{"t", "false"}}, false, true},
      {{{"t", "null"}}, nullptr, true},
      {{{"t", "nnull"}}, 0, true},
      {{{"t", "empty"}}, "", true},
      {{{"t", "empty"}}, json::array(), true},
      {{{"t", "empty"}}, 0, false},
      {{{"t", "nempty"}}, json::object({{"a", 1}}), true},
      {{{"t", "istype"}, {"v", "number"}, {"vt", "number"}}, 3, true},
      {{{"t", "istype"}, {"v", "string"}, {"vt", "string"}}, 3, false},
      {{{"t", "istype"}, {"v", "json"}, {"vt", "json"}}, "{\"a\":1}", true},
  };
  for (const auto& c : cases) {
    Harness h;
    h.LoadOrFail({N("s", "switch", {{"out"}}, SwitchRules(json::array({c.rule}))), Sink("out")});
    h.Inject("s", {{"payload", c.payload}});
    EXPECT_EQ(h.Seen("out").size(), c.match ? 1u : 0u) << c.rule.dump() << " on " << c.payload.dump();
  }
}

TEST(SwitchNode, OtherwiseAndStopAfterFirst) {
  Harness h;
  h.LoadOrFail({N("s", "switch", {{"a"}, {"b"}, {"other"}},
                  SwitchRules(json::array({{{"t", "gt"}, {"v", "0"}, {"vt", "num"}}, {{"t", "gt"}, {"v", "1"}, {"vt", "num"}},
                                           {{"t", "else"}}}),
                              false)),
                Sink("a"), Sink("b"), Sink("other")});
  h.Inject("s", {{"payload", 5}});
  h.Inject("s", {{"payload", -1}});
  EXPECT_EQ(h.Seen("a").size(), 1u);
  EXPECT_EQ(h.Seen("b").size(), 0u);  // stopped after the first match
  ASSERT_EQ(h.Seen("other").size(), 1u);
  EXPECT_EQ(h.Seen("other")[0]["payload"], -1);
}

TEST(SwitchNode, JsonataIsRefused) {
  Harness h;
  auto loaded = h.Load({N("s", "switch", {{}}, {{"property", "$x"}, {"propertyType", "jsonata"}, {"rules", json::array()}})});
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("JSONata"), std::string::npos);
}

// range help: scale, "scale and limit" (clamp), "scale and wrap" (roll), round.
TEST(RangeNode, ScaleClampRollRound) {
  auto run = [](const std::string& action, bool round, json in) {
    Harness h;
    h.LoadOrFail({N("r", "range", {{"out"}},
                    {{"minin", "0"}, {"maxin", "10"}, {"minout", "0"}, {"maxout", "100"}, {"action", action}, {"round", round},
                     {"property", "payload"}}),
                  Sink("out")});
    h.Inject("r", {{"payload", in}});
    return h.Seen("out").empty() ? json("dropped") : h.Seen("out")[0]["payload"];
  };
  EXPECT_EQ(run("scale", false, 5), 50);
  EXPECT_EQ(run("scale", false, 12), 120);
  EXPECT_EQ(run("clamp", false, 12), 100);
  EXPECT_EQ(run("roll", false, 12), 20);
  EXPECT_EQ(run("scale", true, 0.26), 3);
  EXPECT_EQ(run("scale", false, "5"), 50);
  EXPECT_EQ(run("drop", false, 11), "dropped");
  EXPECT_EQ(run("scale", false, "abc"), "dropped");  // not a number: logged, not sent
}

// json help: "if the property is a JSON string it is parsed into an object; if it is an object
// it is converted to a JSON string"; a parse failure is an error (to catch nodes).
TEST(JsonNode, ToggleAndErrors) {
  Harness h;
  h.LoadOrFail({N("j", "json", {{"out"}}, {{"action", ""}, {"property", "payload"}}), Sink("out"),
                N("c", "catch", {{"err"}}, {{"scope", nullptr}}), Sink("err")});
  h.Inject("j", {{"payload", "{\"a\":1}"}});
  h.Inject("j", {{"payload", {{"b", 2}}}});
  h.Inject("j", {{"payload", "{oops"}});
  ASSERT_EQ(h.Seen("out").size(), 2u);
  EXPECT_EQ(h.Seen("out")[0]["payload"]["a"], 1);
  EXPECT_EQ(h.Seen("out")[1]["payload"], "{\"b\":2}");
  ASSERT_EQ(h.Seen("err").size(), 1u);
}

TEST(JsonNode, DeepNestingIsAnErrorNotACrash) {
  Harness h;
  h.LoadOrFail({N("j", "json", {{"out"}}), Sink("out"), N("c", "catch", {{"err"}}), Sink("err")});
  h.Inject("j", {{"payload", std::string(10000, '[') + std::string(10000, ']')}});
  EXPECT_TRUE(h.Seen("out").empty());
  EXPECT_EQ(h.Seen("err").size(), 1u);
}

// template help: mustache over the message, {{payload}}, {{msg.topic}}-style access through
// msg, {{flow.x}}, {{env.NAME}}, sections; output parsed as JSON when asked.
TEST(TemplateNode, MustacheBasics) {
  Harness h;
  h.LoadOrFail({N("t", "template", {{"out"}},
                  {{"field", "payload"}, {"fieldType", "msg"}, {"syntax", "mustache"}, {"output", "str"},
                   {"template", "Hi {{payload}} on {{msg.topic}} at {{env.EDGEWIRE_BOARD}}:{{#items}}[{{name}}]{{/items}}{{^none}}!{{/none}} {{{raw}}} {{html}}"}}),
                Sink("out"),
                N("tj", "template", {{"outj"}},
                  {{"field", "payload"}, {"syntax", "mustache"}, {"output", "json"}, {"template", "{\"v\": {{payload}} }"}}),
                Sink("outj")});
  h.Inject("t", {{"payload", "Ada"}, {"topic", "greet"}, {"items", json::array({{{"name", "a"}}, {{"name", "b"}}})},
                 {"raw", "<b>"}, {"html", "<i>"}});
  ASSERT_EQ(h.Seen("out").size(), 1u);
  EXPECT_EQ(h.Seen("out")[0]["payload"], "Hi Ada on greet at b1:[a][b]! <b> &lt;i&gt;");
  h.Inject("tj", {{"payload", 7}});
  ASSERT_EQ(h.Seen("outj").size(), 1u);
  EXPECT_EQ(h.Seen("outj")[0]["payload"]["v"], 7);
}

// split help: strings split on a character (default \n), arrays into elements, objects into one
// message per key, each with msg.parts; join in automatic mode reverses it.
TEST(SplitJoin, RoundTripsStringsArraysObjects) {
  Harness h;
  h.LoadOrFail({N("s", "split", {{"parts", "j"}}, {{"splt", "\\n"}, {"spltType", "str"}, {"arraySplt", 1}}), Sink("parts"),
                N("j", "join", {{"whole"}}, {{"mode", "auto"}}), Sink("whole")});
  h.Inject("s", {{"payload", "a\nb\nc"}});
  ASSERT_EQ(h.Seen("parts").size(), 3u);
  EXPECT_EQ(h.Seen("parts")[1]["payload"], "b");
  EXPECT_EQ(h.Seen("parts")[1]["parts"]["index"], 1);
  EXPECT_EQ(h.Seen("parts")[1]["parts"]["count"], 3);
  ASSERT_EQ(h.Seen("whole").size(), 1u);
  EXPECT_EQ(h.Seen("whole")[0]["payload"], "a\nb\nc");
  EXPECT_FALSE(h.Seen("whole")[0].contains("parts"));

  h.Inject("s", {{"payload", json::array({1, 2, 3, 4})}});
  EXPECT_EQ(h.Seen("whole").back()["payload"], json::array({1, 2, 3, 4}));
  h.Inject("s", {{"payload", {{"x", 1}, {"y", "z"}}}});
  EXPECT_EQ(h.Seen("whole").back()["payload"], json({{"x", 1}, {"y", "z"}}));
}

TEST(JoinNode, ManualCountStringAndObject) {
  Harness h;
  h.LoadOrFail({N("js", "join", {{"s"}}, {{"mode", "custom"}, {"build", "string"}, {"joiner", ","}, {"count", "3"},
                                         {"property", "payload"}, {"propertyType", "msg"}}),
                Sink("s"),
                N("jo", "join", {{"o"}}, {{"mode", "custom"}, {"build", "object"}, {"key", "topic"}, {"count", "2"},
                                         {"property", "payload"}, {"propertyType", "msg"}}),
                Sink("o"),
                N("ja", "join", {{"a"}}, {{"mode", "custom"}, {"build", "array"}, {"count", ""}, {"property", "payload"},
                                         {"propertyType", "msg"}}),
                Sink("a")});
  for (int i = 1; i <= 3; ++i) h.Inject("js", {{"payload", i}});
  ASSERT_EQ(h.Seen("s").size(), 1u);
  EXPECT_EQ(h.Seen("s")[0]["payload"], "1,2,3");
  h.Inject("jo", {{"topic", "t"}, {"payload", 20}});
  h.Inject("jo", {{"topic", "h"}, {"payload", 50}});
  ASSERT_EQ(h.Seen("o").size(), 1u);
  EXPECT_EQ(h.Seen("o")[0]["payload"], json({{"t", 20}, {"h", 50}}));
  h.Inject("ja", {{"payload", 1}});
  h.Inject("ja", {{"payload", 2}, {"complete", true}});  // msg.complete sends what is there
  ASSERT_EQ(h.Seen("a").size(), 1u);
  EXPECT_EQ(h.Seen("a")[0]["payload"], json::array({1, 2}));
}

// filter (rbe) help: "block unless value changes", "...ignore initial value", deadband
// ("block unless value change is greater than"), narrowband; per topic; msg.reset.
TEST(RbeNode, Modes) {
  auto run = [](json props, std::vector<json> payloads) {
    Harness h;
    props["property"] = "payload";
    h.LoadOrFail({N("r", "rbe", {{"out"}}, props), Sink("out")});
    for (auto& p : payloads) h.Inject("r", {{"payload", p}, {"topic", "t"}});
    std::vector<json> out;
    for (auto& m : h.Seen("out")) out.push_back(m["payload"]);
    return out;
  };
  EXPECT_EQ(run({{"func", "rbe"}}, {1, 1, 2, 2, 1}), (std::vector<json>{1, 2, 1}));
  EXPECT_EQ(run({{"func", "rbei"}}, {1, 1, 2}), (std::vector<json>{2}));
  EXPECT_EQ(run({{"func", "deadband"}, {"gap", "5"}, {"inout", "out"}}, {10, 12, 16, 17, 22}), (std::vector<json>{10, 16, 22}));
  EXPECT_EQ(run({{"func", "narrowband"}, {"gap", "5"}, {"inout", "out"}}, {10, 30, 12}), (std::vector<json>{10, 12}));
  EXPECT_EQ(run({{"func", "deadband"}, {"gap", "10%"}, {"inout", "out"}}, {100, 105, 111}), (std::vector<json>{100, 111}));
}

// link call / link out in return mode (Node-RED 2.1+): the called flow's result comes back out
// of the link call node; no return within the timeout is an error.
TEST(LinkNodes, CallAndReturn) {
  Harness h;
  h.LoadOrFail({N("call", "link call", {{"back"}}, {{"links", json::array({"in"})}, {"linkType", "static"}, {"timeout", "2"}}),
                Sink("back"), N("in", "link in", {{"double"}}),
                N("double", "change", {{"ret"}}, {{"rules", json::array({{{"t", "set"}, {"p", "payload"}, {"to", "done"}, {"tot", "str"}}})}}),
                N("ret", "link out", {}, {{"mode", "return"}}),
                N("lo", "link out", {}, {{"mode", "link"}, {"links", json::array({"in2"})}}), N("in2", "link in", {{"via"}}),
                Sink("via"), N("c", "catch", {{"err"}}), Sink("err"),
                N("call2", "link call", {{"back2"}}, {{"links", json::array({"in2"})}, {"timeout", "1"}}), Sink("back2")});
  h.Inject("call", {{"payload", "x"}});
  ASSERT_EQ(h.Seen("back").size(), 1u);
  EXPECT_EQ(h.Seen("back")[0]["payload"], "done");
  EXPECT_FALSE(h.Seen("back")[0].contains("_linkSource"));
  h.Inject("lo", {{"payload", "y"}});
  ASSERT_EQ(h.Seen("via").size(), 1u);
  // in2 never returns: the call times out into the catch node.
  h.Inject("call2", {{"payload", "z"}});
  EXPECT_TRUE(h.Seen("err").empty());
  h.Advance(std::chrono::seconds(1));
  ASSERT_EQ(h.Seen("err").size(), 1u);
  EXPECT_EQ(h.Seen("err")[0]["error"]["message"], "timeout");
  EXPECT_TRUE(h.Seen("back2").empty());
}

TEST(DebugNode, SelectedPropertyGoesToTheHost) {
  Harness h;
  h.LoadOrFail({N("d", "debug", {}, {{"complete", "payload.v"}, {"active", true}, {"name", "dbg"}})});
  h.Inject("d", {{"payload", {{"v", 3}}}, {"topic", "tp"}});
  ASSERT_EQ(h.host.debug.size(), 1u);
  EXPECT_EQ(h.host.debug[0].msg, 3);
  EXPECT_EQ(h.host.debug[0].property, "payload.v");
  EXPECT_EQ(h.host.debug[0].topic, "tp");
  EXPECT_EQ(h.host.debug[0].name, "dbg");
}

// A debug node as the editor creates it: complete "false" shows msg.payload (Node-RED 21-debug.js).
TEST(DebugNode, CompleteFalseMeansPayload) {
  Harness h;
  h.LoadOrFail({N("d", "debug", {}, {{"complete", "false"}, {"active", true}})});
  h.Inject("d", {{"payload", 7}, {"topic", "tp"}});
  ASSERT_EQ(h.host.debug.size(), 1u);
  EXPECT_EQ(h.host.debug[0].msg, 7);
  EXPECT_EQ(h.host.debug[0].property, "payload");
}

}  // namespace
}  // namespace ew::flows::testing
