// Test support for the flow runtime: a FakeHost behind the real Host port (records debug, status,
// published wires, GPIO writes; simulated lines and function results set by the test) and a
// Harness that owns an io_context, a ManualClock and a FlowRuntime, and runs the strand until
// nothing is left to do.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/clock/clock.hpp"
#include "flows/model/partition.hpp"
#include "flows/nodes/builtin_nodes.hpp"
#include "flows/runtime/flow_runtime.hpp"
#include "flows/runtime/host.hpp"

namespace ew::flows::testing {

using nlohmann::json;

class FakeHost : public runtime::Host {
 public:
  struct Watch {
    runtime::GpioWatchSpec spec;
    std::function<void(runtime::GpioEdge)> on_edge;
  };

  Result<void> WatchGpio(const std::string& owner, const runtime::GpioWatchSpec& spec,
                         std::function<void(runtime::GpioEdge)> on_edge) override {
    if (spec.line == "missing") return NotFound("no line \"missing\"");
    watches[owner] = Watch{spec, std::move(on_edge)};
    return Ok();
  }
  Result<int> ReadGpio(const std::string& line) override { return levels[line]; }
  Result<void> WriteGpio(const std::string& owner, const std::string& line, int level) override {
    if (line == "busy") return Conflict("line busy is busy: held by someone");
    levels[line] = level;
    writes.emplace_back(line, level);
    return Ok();
  }
  void ReleaseGpio(const std::string& owner) override {
    released.push_back(owner);
    watches.erase(owner);
  }
  void InvokeFunction(const runtime::FunctionCall& call, std::function<void(Result<json>)> done) override {
    calls.push_back(call);
    pending_calls.push_back(std::move(done));
  }
  void PublishWire(const std::string& topic, json msg) override { published.emplace_back(topic, std::move(msg)); }
  void Debug(const runtime::DebugEvent& event) override { debug.push_back(event); }
  void Status(const std::string& node, const json& status) override { statuses.emplace_back(node, status); }
  void Log(const std::string& level, const std::string& node, const std::string& text) override {
    logs.push_back(level + " " + node + ": " + text);
  }

  // Fires an edge on every watch of `line`.
  void Edge(const std::string& line, int level, int64_t ts = 1000) {
    for (auto& [owner, w] : watches)
      if (w.spec.line == line) w.on_edge(runtime::GpioEdge{level, level == 1, ts});
  }

  std::map<std::string, Watch> watches;
  std::map<std::string, int> levels;
  std::vector<std::pair<std::string, int>> writes;
  std::vector<std::string> released;
  std::vector<runtime::FunctionCall> calls;
  std::vector<std::function<void(Result<json>)>> pending_calls;
  std::vector<std::pair<std::string, json>> published;
  std::vector<runtime::DebugEvent> debug;
  std::vector<std::pair<std::string, json>> statuses;
  std::vector<std::string> logs;
};

// {"id","type","tab","name","wires","props"} shorthand: N("n1", "change", {{"n2"}}, props).
inline flows::Node N(std::string id, std::string type, std::vector<std::vector<std::string>> wires = {},
                     json props = json::object(), std::string tab = "t1") {
  flows::Node n;
  n.id = std::move(id);
  n.type = std::move(type);
  n.tab = std::move(tab);
  n.wires = std::move(wires);
  n.props = props.is_null() ? json::object() : std::move(props);
  n.name = n.props.value("name", "");
  return n;
}

// A debug node showing the whole message: what tests read results from.
inline flows::Node Sink(std::string id, std::string tab = "t1") {
  return N(std::move(id), "debug", {}, {{"complete", "true"}, {"active", true}}, std::move(tab));
}

class Harness {
 public:
  explicit Harness(runtime::RuntimeOptions options = {}) : runtime(io, clock, host, options) {}

  Result<void> Load(std::vector<flows::Node> nodes, std::vector<flows::ConfigNode> configs = {},
                    std::vector<flows::OutboundWire> outbound = {}, std::vector<flows::InboundWire> inbound = {}) {
    flows::Partition p;
    p.flow = "f1";
    p.version = 1;
    p.board = "b1";
    p.nodes = std::move(nodes);
    p.configs = std::move(configs);
    p.outbound = std::move(outbound);
    p.inbound = std::move(inbound);
    EW_TRY_VOID(runtime.Load(std::move(p), nodes::BuiltinNodes()));
    return runtime.Start();
  }
  void LoadOrFail(std::vector<flows::Node> nodes, std::vector<flows::ConfigNode> configs = {},
                  std::vector<flows::OutboundWire> outbound = {}, std::vector<flows::InboundWire> inbound = {}) {
    auto loaded = Load(std::move(nodes), std::move(configs), std::move(outbound), std::move(inbound));
    ASSERT_TRUE(loaded) << loaded.error().message;
  }

  // Runs handlers and due timers until neither is left.
  void Settle() {
    for (int i = 0; i < 100000; ++i) {
      io.restart();
      size_t ran = io.poll();
      ran += runtime.timers().RunDue();
      if (ran == 0) return;
    }
    FAIL() << "the runtime never went idle";
  }
  // For nodes fed by real threads and sockets (mqtt, http): runs the io_context in real time
  // until `done()` holds or `timeout` passes. False on timeout.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.restart();
      io.run_for(std::chrono::milliseconds(5));
      runtime.timers().RunDue();
    }
    return true;
  }
  void Advance(std::chrono::nanoseconds d) {
    clock.Advance(d);
    Settle();
  }
  // Sends `msg` into node `id` and settles.
  void Inject(const std::string& id, json msg) {
    if (!msg.contains("_msgid")) msg["_msgid"] = runtime::NewMessageId();
    ASSERT_TRUE(runtime.DeliverTo(id, std::move(msg)));
    Settle();
  }
  // Whole messages seen by debug node `id`.
  std::vector<json> Seen(const std::string& id) const {
    std::vector<json> out;
    for (const auto& e : host.debug)
      if (e.node == id) out.push_back(e.msg);
    return out;
  }

  boost::asio::io_context io;
  ManualClock clock;
  FakeHost host;
  runtime::FlowRuntime runtime;
};

}  // namespace ew::flows::testing
