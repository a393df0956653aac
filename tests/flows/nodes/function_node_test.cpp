// Node-RED `function` node on the C++ runtime (Duktape), against Node-RED's documented behaviour
// (nodered.org/docs/user-guide/writing-functions) and cases ported from Node-RED's own
// test/nodes/core/function/10-function_spec.js (named after them in comments).
#include <gtest/gtest.h>

#include "flows/js/js_heap.hpp"
#include "flows/partition/partitioner.hpp"
#include "tests/flows/support/flow_harness.hpp"

namespace ew::flows::testing {
namespace {

flows::Node Fn(std::string id, std::string func, std::vector<std::vector<std::string>> wires = {{"out"}},
               json extra = json::object()) {
  json props = {{"func", func}, {"outputs", wires.size()}};
  props.update(extra);
  return N(std::move(id), "function", std::move(wires), props);
}

std::vector<std::string> Logs(const FakeHost& host, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& l : host.logs)
    if (l.rfind(prefix, 0) == 0) out.push_back(l);
  return out;
}

// 'should send returned message'; 'should pass through _topic'
TEST(FunctionNode, ReturnMsgSendsIt) {
  Harness h;
  h.LoadOrFail({Fn("f", "return msg;"), Sink("out")});
  h.Inject("f", {{"payload", "foo"}, {"topic", "bar"}, {"_topic", "baz"}, {"_msgid", "m1"}});
  auto seen = h.Seen("out");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0]["payload"], "foo");
  EXPECT_EQ(seen[0]["topic"], "bar");
  EXPECT_EQ(seen[0]["_topic"], "baz");
  EXPECT_EQ(seen[0]["_msgid"], "m1");
}

TEST(FunctionNode, DoublesPayload) {
  Harness h;
  h.LoadOrFail({Fn("f", "msg.payload = msg.payload * 2; return msg;"), Sink("out")});
  h.Inject("f", {{"payload", 21}});
  h.Inject("f", {{"payload", 1.25}});
  auto seen = h.Seen("out");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0]["payload"], 42);
  EXPECT_TRUE(seen[0]["payload"].is_number_integer());
  EXPECT_EQ(seen[1]["payload"], 2.5);
}

// 'should send returned message using send()'
TEST(FunctionNode, NodeSend) {
  Harness h;
  h.LoadOrFail({Fn("f", "node.send(msg);"), Sink("out")});
  h.Inject("f", {{"payload", "foo"}, {"topic", "bar"}});
  ASSERT_EQ(h.Seen("out").size(), 1u);
  EXPECT_EQ(h.Seen("out")[0]["topic"], "bar");
}

// 'should clone single message sent using send()': what was sent is what the message was then.
TEST(FunctionNode, SendTakesACopy) {
  Harness h;
  h.LoadOrFail({Fn("f", "node.send([null, msg]); msg.payload = 'changed';", {{"out"}, {"out"}}), Sink("out")});
  h.Inject("f", {{"payload", "foo"}});
  ASSERT_EQ(h.Seen("out").size(), 1u);
  EXPECT_EQ(h.Seen("out")[0]["payload"], "foo");
}

// 'should send to multiple outputs'; 'should send to multiple messages' (_msgid kept);
// 'should handle null amongst valid messages'
TEST(FunctionNode, MultipleOutputsAndMessages) {
  Harness h;
  h.LoadOrFail({Fn("f", "return [[{payload: 1}, null, {payload: 2}], null, {payload: 3}];", {{"a"}, {"b"}, {"c"}}),
                Sink("a"), Sink("b"), Sink("c")});
  h.Inject("f", {{"payload", "x"}, {"_msgid", 1234}});
  auto a = h.Seen("a");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0]["payload"], 1);
  EXPECT_EQ(a[1]["payload"], 2);
  EXPECT_EQ(a[0]["_msgid"], 1234);
  EXPECT_EQ(a[1]["_msgid"], 1234);
  EXPECT_TRUE(h.Seen("b").empty());
  ASSERT_EQ(h.Seen("c").size(), 1u);
  EXPECT_EQ(h.Seen("c")[0]["payload"], 3);
}

// Outputs count from the node's `outputs`: an entry past them goes nowhere.
TEST(FunctionNode, ResultsPastOutputsAreIgnored) {
  Harness h;
  auto f = Fn("f", "return [msg, msg];", {{"a"}});
  f.wires = {{"a"}, {"b"}};  // a stale wire past outputs: 1
  h.LoadOrFail({f, Sink("a"), Sink("b")});
  h.Inject("f", {{"payload", 1}});
  EXPECT_EQ(h.Seen("a").size(), 1u);
  EXPECT_TRUE(h.Seen("b").empty());
}

// 'should allow input to be discarded by returning null'
TEST(FunctionNode, ReturnNullSendsNothing) {
  Harness h;
  h.LoadOrFail({Fn("f", "return null"), Sink("out")});
  h.Inject("f", {{"payload", "foo"}});
  EXPECT_TRUE(h.Seen("out").empty());
}

// 'should drop and log non-object message types - string/array/boolean/number'
TEST(FunctionNode, NonMessageResultsAreErrors) {
  for (const char* code : {"return \"foo\"", "return [[[1,2,3]]]", "return true", "return 123"}) {
    Harness h;
    h.LoadOrFail({Fn("f", code), Sink("out")});
    h.Inject("f", {{"payload", 1}});
    EXPECT_TRUE(h.Seen("out").empty()) << code;
    auto errors = Logs(h.host, "error f: Function tried to send a message of type");
    EXPECT_EQ(errors.size(), 1u) << code;
  }
}

// 'should allow accessing node.id and node.name and node.outputCount'
TEST(FunctionNode, NodeProperties) {
  Harness h;
  auto f = Fn("n1", "return [{ topic: node.name, payload: node.id, outputCount: node.outputCount }];", {{"out"}, {}});
  f.name = "test-function";
  h.LoadOrFail({f, Sink("out")});
  h.Inject("n1", {{"payload", ""}});
  ASSERT_EQ(h.Seen("out").size(), 1u);
  EXPECT_EQ(h.Seen("out")[0]["payload"], "n1");
  EXPECT_EQ(h.Seen("out")[0]["topic"], "test-function");
  EXPECT_EQ(h.Seen("out")[0]["outputCount"], 2);
}

// 'should do something with the catch node'
TEST(FunctionNode, NodeErrorWithMsgGoesToCatch) {
  Harness h;
  h.LoadOrFail({Fn("funcNode", "node.error('This is an error', msg);"), Sink("out"),
                N("c", "catch", {{"err"}}), Sink("err")});
  h.Inject("funcNode", {{"payload", "foo"}, {"topic", "bar"}});
  auto err = h.Seen("err");
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0]["payload"], "foo");
  EXPECT_EQ(err[0]["error"]["message"], "This is an error");
  EXPECT_EQ(err[0]["error"]["source"]["id"], "funcNode");
  EXPECT_TRUE(h.Seen("out").empty());
}

// 'should handle and log script error': a thrown error reaches catch nodes with the message.
TEST(FunctionNode, ThrownErrorsGoToCatch) {
  Harness h;
  h.LoadOrFail({Fn("f", "var a = 1;\nretunr"), Sink("out"), N("c", "catch", {{"err"}}), Sink("err"),
                N("done", "complete", {{"fin"}}, {{"scope", json::array({"f"})}}), Sink("fin")});
  h.Inject("f", {{"payload", "foo"}});
  auto err = h.Seen("err");
  ASSERT_EQ(err.size(), 1u);
  const std::string text = err[0]["error"]["message"];
  EXPECT_EQ(text.rfind("ReferenceError", 0), 0u) << text;
  EXPECT_EQ(text, "ReferenceError: identifier 'retunr' undefined");
  EXPECT_EQ(h.Seen("fin").size(), 1u);  // Node-RED: done(err) completes the message too
  // The node keeps running.
  h.Inject("f", {{"payload", "again"}});
  EXPECT_EQ(h.Seen("err").size(), 2u);
}

TEST(FunctionNode, WarnLogAndStatus) {
  Harness h;
  h.LoadOrFail({Fn("f", "node.warn('careful'); node.log({a: 1}); node.status({fill: 'green', shape: 'dot', text: 42});"
                        "return msg;"),
                Sink("out"), N("s", "status", {{"st"}}), Sink("st")});
  h.Inject("f", {{"payload", 1}});
  EXPECT_EQ(Logs(h.host, "warn f: careful").size(), 1u);
  EXPECT_EQ(Logs(h.host, "info f: {\"a\":1}").size(), 1u);
  ASSERT_EQ(h.Seen("st").size(), 1u);
  EXPECT_EQ(h.Seen("st")[0]["status"]["fill"], "green");
  EXPECT_EQ(h.Seen("st")[0]["status"]["text"], "42");
  EXPECT_EQ(h.Seen("st")[0]["status"]["source"]["id"], "f");
}

// 'should set node context' / 'should get node context' / keys; flow and global are shared.
TEST(FunctionNode, ContextFlowGlobal) {
  Harness h;
  h.LoadOrFail({Fn("a", "var n = (context.get('count') || 0) + 1; context.set('count', n);"
                        "flow.set('last', msg.payload); global.set('g.deep', [n]);"
                        "context.set('count2', n, 'memory1', function (err) { msg.cb = err; });"
                        "msg.count = n; return msg;",
                   {{"b"}}),
                Fn("b", "msg.flowLast = flow.get('last'); msg.deep = global.get('g.deep[0]'); msg.mine = context.get('count');"
                        "msg.keys = context.global.keys(); msg.both = flow.get(['last', 'none']); return msg;"),
                Sink("out")});
  h.Inject("a", {{"payload", "p1"}});
  h.Inject("a", {{"payload", "p2"}});
  auto seen = h.Seen("out");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1]["count"], 2);
  EXPECT_EQ(seen[1]["cb"], nullptr);
  EXPECT_EQ(seen[1]["flowLast"], "p2");
  EXPECT_EQ(seen[1]["deep"], 2);
  EXPECT_FALSE(seen[1].contains("mine"));  // b's own context is empty: undefined is left out
  EXPECT_EQ(seen[1]["keys"], json::array({"g"}));
  EXPECT_EQ(seen[1]["both"], json::array({"p2", nullptr}));
  EXPECT_EQ(h.runtime.GlobalContext()["g"]["deep"], json::array({2}));
  // context.set(key, undefined) deletes.
  Harness h2;
  h2.LoadOrFail({Fn("a", "context.set('x', 1); context.set('x', undefined); msg.keys = context.keys(); return msg;"), Sink("out")});
  h2.Inject("a", {{"payload", 1}});
  EXPECT_EQ(h2.Seen("out")[0]["keys"], json::array());
}

TEST(FunctionNode, EnvGet) {
  Harness h;
  auto f = Fn("f", "msg.a = env.get('A'); msg.id = env.get('NR_NODE_ID'); msg.board = env.get('EDGEWIRE_BOARD');"
                   "msg.none = env.get('HOME'); return msg;");
  f.env = {{"A", 5}};
  h.LoadOrFail({f, Sink("out")});
  h.Inject("f", {{"payload", 1}});
  auto m = h.Seen("out").at(0);
  EXPECT_EQ(m["a"], 5);
  EXPECT_EQ(m["id"], "f");
  EXPECT_EQ(m["board"], "b1");
  EXPECT_FALSE(m.contains("none"));  // the agent's own environment is not visible
}

// Node-RED: initialize runs before the first message; finalize at close; node.on('close').
TEST(FunctionNode, InitializeAndFinalize) {
  Harness h;
  h.LoadOrFail({Fn("f", "msg.base = context.get('base'); return msg;", {{"out"}},
                   {{"initialize", "context.set('base', 10); node.send({payload: 'started'});"},
                    {"finalize", "node.log('bye ' + context.get('base'));"}}),
                Sink("out")});
  h.Settle();
  h.Inject("f", {{"payload", 1}});
  auto seen = h.Seen("out");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0]["payload"], "started");
  EXPECT_TRUE(seen[0]["_msgid"].is_string());
  EXPECT_EQ(seen[1]["base"], 10);
  h.runtime.Stop();
  EXPECT_EQ(Logs(h.host, "info f: bye 10").size(), 1u);
}

// 'should handle node.on()'
TEST(FunctionNode, OnCloseHandler) {
  Harness h;
  h.LoadOrFail({Fn("f", "node.on('close', function () { node.log('closed'); });"), Sink("out")});
  h.Inject("f", {{"payload", 1}});
  h.runtime.Stop();
  EXPECT_EQ(Logs(h.host, "info f: closed").size(), 1u);
}

TEST(FunctionNode, NodeDoneIsLeftToTheCode) {
  Harness h;
  h.LoadOrFail({Fn("f", "setTimeout(function () { node.send(msg); node.done(); }, 500);"), Sink("out"),
                N("c", "complete", {{"fin"}}, {{"scope", json::array({"f"})}}), Sink("fin")});
  h.Inject("f", {{"payload", 1}, {"_msgid", "m7"}});
  EXPECT_TRUE(h.Seen("fin").empty());
  h.Advance(std::chrono::milliseconds(500));
  ASSERT_EQ(h.Seen("out").size(), 1u);
  EXPECT_EQ(h.Seen("out")[0]["_msgid"], "m7");
  ASSERT_EQ(h.Seen("fin").size(), 1u);
  EXPECT_EQ(h.Seen("fin")[0]["_msgid"], "m7");
}

TEST(FunctionNode, IntervalsStopAtClose) {
  Harness h;
  h.LoadOrFail({Fn("f", "", {{"out"}},
                   {{"initialize", "var n = 0; var t = setInterval(function () { n++; node.send({payload: n});"
                                   " if (n === 3) clearInterval(t); }, 100);"}}),
                Sink("out")});
  h.Advance(std::chrono::milliseconds(100));
  h.Advance(std::chrono::milliseconds(100));
  h.Advance(std::chrono::milliseconds(100));
  h.Advance(std::chrono::milliseconds(100));
  auto seen = h.Seen("out");
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2]["payload"], 3);
}

// The sandbox: no require, process, Duktape internals; the agent's environment is not there.
TEST(FunctionNode, Sandbox) {
  Harness h;
  h.LoadOrFail({Fn("f", "msg.t = [typeof require, typeof process, typeof Duktape, typeof module];"
                        "return msg;"),
                Sink("out")});
  h.Inject("f", {{"payload", 1}});
  EXPECT_EQ(h.Seen("out").at(0)["t"], json::array({"undefined", "undefined", "undefined", "undefined"}));
}

// A runaway loop is stopped by the instruction budget (the clock does not move in this test) and
// reported to catch nodes; the node keeps working.
TEST(FunctionNode, InfiniteLoopIsStopped) {
  runtime::RuntimeOptions options;
  options.function_call_instructions = 5'000'000;
  Harness h(options);
  h.LoadOrFail({Fn("f", "if (msg.payload === 'spin') { while (true) {} } return msg;"), Sink("out"),
                N("c", "catch", {{"err"}}), Sink("err")});
  h.Inject("f", {{"payload", "spin"}});
  auto err = h.Seen("err");
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0]["error"]["message"], "Script execution stopped after 5000000 instructions");
  // try/catch in the script cannot swallow it.
  h.Inject("f", {{"payload", "ok"}});
  EXPECT_EQ(h.Seen("out").size(), 1u);
}

TEST(FunctionNode, TryCatchCannotSwallowTheBudget) {
  runtime::RuntimeOptions options;
  options.function_call_instructions = 2'000'000;
  Harness h(options);
  h.LoadOrFail({Fn("f", "for (;;) { try { while (true) {} } catch (e) { msg.caught = String(e); } } return msg;"),
                Sink("out"), N("c", "catch", {{"err"}}), Sink("err")});
  h.Inject("f", {{"payload", 1}});
  EXPECT_TRUE(h.Seen("out").empty());
  ASSERT_EQ(h.Seen("err").size(), 1u);
}

// A clock that moves 10 ms at each reading: the time budget, without sleeping.
class TickingClock : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(std::chrono::milliseconds(ticks_ += 10)); }
  std::chrono::steady_clock::time_point Steady() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ticks_ += 10));
  }

 private:
  mutable int64_t ticks_ = 0;
};

TEST(FunctionNode, TimeBudgetFromNodeTimeout) {
  TickingClock clock;
  js::JsLimits limits;
  limits.max_call_time = std::chrono::milliseconds(50);
  limits.max_call_instructions = 0;
  auto heap = js::JsHeap::Create(limits, clock);
  ASSERT_TRUE(heap);
  ASSERT_TRUE((*heap)->CompileFunction("function () { while (true) {} }", "t"));
  auto ran = (*heap)->Call(0);
  ASSERT_FALSE(ran);
  EXPECT_EQ(ran.error().message, "Script execution timed out after 50ms");
  EXPECT_EQ(ran.error().code, ErrorCode::kDeadlineExceeded);
  duk_pop((*heap)->ctx());
  EXPECT_EQ((*heap)->timeouts(), 1u);
}

// The heap's memory cap: a script that allocates without end gets an error, the node survives.
TEST(FunctionNode, MemoryCap) {
  runtime::RuntimeOptions options;
  options.function_heap_bytes = 1u << 20;
  Harness h(options);
  h.LoadOrFail({Fn("f", "if (msg.payload === 'grow') { var a = []; while (true) a.push('x' + a.length); } return msg;"),
                Sink("out"), N("c", "catch", {{"err"}}), Sink("err")});
  h.Inject("f", {{"payload", "grow"}});
  ASSERT_EQ(h.Seen("err").size(), 1u);
  const std::string text = h.Seen("err")[0]["error"]["message"];
  EXPECT_NE(text.find("alloc failed"), std::string::npos) << text;
  h.Inject("f", {{"payload", "ok"}});
  EXPECT_EQ(h.Seen("out").size(), 1u);
}

// A cap too small for the engine and the node's API fails the load with an error; it must not
// reach the engine's fatal handler (which would end the agent).
TEST(FunctionNode, HeapCapTooSmallFailsTheLoad) {
  for (size_t cap : {size_t{16} << 10, size_t{120} << 10, size_t{255} << 10}) {
    runtime::RuntimeOptions options;
    options.function_heap_bytes = cap;
    Harness h(options);
    auto loaded = h.Load({Fn("f", "return msg;"), Sink("out")});
    ASSERT_FALSE(loaded) << cap;
    EXPECT_NE(loaded.error().message.find("node f (function)"), std::string::npos) << loaded.error().message;
  }
  runtime::RuntimeOptions options;
  options.function_heap_bytes = 256u << 10;  // enough for the node, little room for the script
  Harness h(options);
  h.LoadOrFail({Fn("f", "if (msg.payload === 'grow') { var a = []; while (true) a.push({n: a.length}); } return msg;"),
                Sink("out"), N("c", "catch", {{"err"}}), Sink("err")});
  h.Inject("f", {{"payload", "grow"}});
  h.Inject("f", {{"payload", "ok"}});
  EXPECT_EQ(h.Seen("err").size(), 1u);
  EXPECT_EQ(h.Seen("out").size(), 1u);
}

TEST(FunctionNode, SyntaxErrorFailsTheLoadNamingTheNode) {
  Harness h;
  auto loaded = h.Load({Fn("f", "return msg => msg;"), Sink("out")});
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("node f (function) on tab t1"), std::string::npos) << loaded.error().message;
  EXPECT_NE(loaded.error().message.find("SyntaxError"), std::string::npos) << loaded.error().message;
}

TEST(FunctionNode, LibsAreRefused) {
  Harness h;
  auto loaded = h.Load({Fn("f", "return msg;", {{"out"}}, {{"libs", json::array({{{"var", "os"}, {"module", "os"}}})}}),
                        Sink("out")});
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("os"), std::string::npos) << loaded.error().message;
  EXPECT_NE(loaded.error().message.find("cannot be loaded on a board"), std::string::npos);
}

// Deploy time: the partitioner compiles every function node of a board partition with the same
// engine, and names node, type and tab for what it lacks.
TEST(FunctionNode, DeployTimeCheckNamesNodeAndSyntax) {
  Partition board;
  board.board = "pi";
  const std::pair<const char*, bool> cases[] = {
      {"var f = function (x) { return x * 2; }; msg.payload = f(msg.payload); return msg;", true},
      {"const k = 2; msg.payload = msg.payload * k; return msg;", true},  // Duktape: const as var
      {"msg.payload = [1, 2].map(x => x * 2); return msg;", false},
      {"let a = 1; return msg;", false},
      {"msg.payload = `v=${msg.payload}`; return msg;", false},
      {"class A {} return msg;", false},
      {"async function f() {} return msg;", false},
      {"var o = msg?.payload; return msg;", false},
      {"var {payload} = msg; return msg;", false},
      {"var a = [...[1, 2]]; return msg;", false},
      {"function f(a = 1) { return a; } return msg;", false},
      {"var p = new Proxy({}, {}); var t = new Uint8Array(2); var x = 2 ** 3; return msg;", true},
  };
  int i = 0;
  for (const auto& [code, ok] : cases) {
    auto node = Fn("n" + std::to_string(i++), code);
    node.tab = "tab9";
    board.nodes = {node};
    auto issues = UnsupportedNodes({board}, false);
    if (ok) {
      EXPECT_TRUE(issues.empty()) << code << ": " << (issues.empty() ? "" : issues[0].message);
      continue;
    }
    ASSERT_EQ(issues.size(), 1u) << code;
    EXPECT_EQ(issues[0].node, node.id);
    EXPECT_EQ(issues[0].type, "function");
    EXPECT_EQ(issues[0].tab, "tab9");
    EXPECT_NE(issues[0].message.find("SyntaxError"), std::string::npos) << issues[0].message;
    EXPECT_NE(issues[0].message.find("arrow functions"), std::string::npos) << issues[0].message;
    EXPECT_NE(issues[0].message.find("board \"pi\""), std::string::npos) << issues[0].message;
  }
  // initialize / finalize are checked too; the cloud partition of an external Node-RED is not.
  auto node = Fn("ini", "return msg;", {{"out"}}, {{"initialize", "let x = 1;"}, {"finalize", "var ok = 1;"}});
  board.nodes = {node};
  auto issues = UnsupportedNodes({board}, false);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("setup (On Start)"), std::string::npos) << issues[0].message;
  Partition cloud;
  cloud.nodes = {Fn("c", "return msg => 1;")};
  EXPECT_TRUE(UnsupportedNodes({cloud}, false).empty());
  EXPECT_EQ(UnsupportedNodes({cloud}, true).size(), 1u);
}

// Both ways of moving a message in and out of the heap give the same JSON.
TEST(FunctionNode, TextConversionMatchesDirect) {
  for (bool text : {false, true}) {
    runtime::RuntimeOptions options;
    options.function_text_conversion = text;
    Harness h(options);
    h.LoadOrFail({Fn("f", "msg.d = new Date(0); msg.u = undefined; msg.f = function () {}; msg.n = NaN;"
                          "msg.arr = [undefined, 1.5, -0, 'é']; return msg;"),
                  Sink("out")});
    h.Inject("f", {{"payload", {{"a", json::array({1, "two", nullptr, true})}, {"big", 9007199254740991LL}}}});
    auto m = h.Seen("out").at(0);
    EXPECT_EQ(m["payload"]["a"], json::array({1, "two", nullptr, true})) << text;
    EXPECT_EQ(m["payload"]["big"], 9007199254740991LL) << text;
    EXPECT_EQ(m["d"], "1970-01-01T00:00:00.000Z") << text;
    EXPECT_FALSE(m.contains("u")) << text;
    EXPECT_FALSE(m.contains("f")) << text;
    EXPECT_EQ(m["n"], nullptr) << text;
    EXPECT_EQ(m["arr"], json::array({nullptr, 1.5, 0, "é"})) << text;
  }
}

TEST(FunctionNode, CircularMessageIsAnError) {
  Harness h;
  h.LoadOrFail({Fn("f", "msg.self = msg; return msg;"), Sink("out"), N("c", "catch", {{"err"}}), Sink("err")});
  h.Inject("f", {{"payload", 1}});
  EXPECT_TRUE(h.Seen("out").empty());
  EXPECT_EQ(Logs(h.host, "error f:").size(), 1u);
}

}  // namespace
}  // namespace ew::flows::testing
