// Runs one Partition on one strand of an io_context with Node-RED's message semantics:
//  - every hop is asynchronous: a sent message is queued at its target and handled in a later
//    handler, never inside send();
//  - a message sent to several wires reaches the first target as is and every other one as a
//    deep copy (Node-RED "Messages": "the first is sent as-is, the rest are cloned");
//  - node.error(text, msg) goes to the tab's catch nodes (scope all, group, or listed nodes;
//    "uncaught only" ones when no other caught it) with msg.error = {message, source{id, type,
//    name, count}}; status to status nodes; done() to complete nodes.
// Back-pressure: each node has a bounded input queue (RuntimeOptions::max_queue). A message for
// a full queue is dropped and counted (per node and in total): a flooding source (a fast inject,
// an MQTT topic, a GPIO line) loses messages instead of growing memory. Dropping the newest keeps
// what is queued in order, and memory is bounded by nodes × max_queue messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <nlohmann/json.hpp>

#include "common/clock/clock.hpp"
#include "common/error/error.hpp"
#include "flows/model/partition.hpp"
#include "flows/runtime/host.hpp"
#include "flows/runtime/message.hpp"
#include "flows/runtime/node_registry.hpp"
#include "flows/runtime/runtime_node.hpp"
#include "flows/runtime/timers.hpp"

namespace ew::flows::runtime {

struct RuntimeOptions {
  // Messages waiting at one node's input; more are dropped and counted (back-pressure above).
  size_t max_queue = 1000;
  // A message that reaches catch nodes this many times (an error loop) is dropped, as Node-RED does.
  int max_catch_loops = 10;
  // Node-RED `function` nodes (flows/nodes/function_node.cpp, flows/js): each runs in its own
  // JavaScript heap of at most this many bytes ...
  size_t function_heap_bytes = 8u << 20;
  // ... and one call (a message, the node's initialize or finalize code, a timer) may run this
  // long (0 = no time limit; Node-RED's own `timeout` prop, when set and shorter, wins) ...
  std::chrono::milliseconds function_call_time{1000};
  // ... or this many bytecode instructions, whichever ends first (0 = no instruction limit).
  uint64_t function_call_instructions = 2'000'000'000;
  // Messages cross into and out of a function node's heap through JSON text instead of being
  // built with the engine's API (slower; kept for tests/bench/flows_bench --conversion text).
  bool function_text_conversion = false;
  // Where nodes that dial out (http request, mqtt in/out) may connect: called with the host as
  // written (an IPv6 literal without brackets) and the port before every connection; an error
  // (PermissionDenied, naming the place) refuses it. Empty = anywhere: a board's network is its
  // owner's. The conductor's cloud runner sets [flows] cloud_outbound, so a flow cannot make the
  // conductor reach its own network or metadata services.
  std::function<Result<void>(const std::string& host, uint16_t port)> outbound;
  // Whether nodes may read files named in the flow (a tls-config node's CA, certificate and key
  // paths). A board's flow names its own files; the conductor's cloud runtime sets false: its
  // files (the triggers' broker certificate and key among them) are the operator's.
  bool local_files = true;
};

struct NodeStats {
  uint64_t received = 0;
  uint64_t dropped = 0;  // refused at a full input queue
};

class FlowRuntime {
 public:
  // `clock` and `host` outlive the runtime. All work happens on a strand of `io`.
  FlowRuntime(boost::asio::io_context& io, const Clock& clock, Host& host, RuntimeOptions options = {});
  ~FlowRuntime();
  FlowRuntime(const FlowRuntime&) = delete;
  FlowRuntime& operator=(const FlowRuntime&) = delete;

  // Builds every node of `partition` with `registry`. InvalidArgument naming node id, type and tab
  // for an unknown type, config the runtime cannot run, or a wire to a missing node; nothing is
  // left half-built. Once, before Start().
  Result<void> Load(flows::Partition partition, const NodeRegistry& registry);
  // Starts the nodes (inject timers, GPIO watches). On failure every node is closed again and the
  // error names the node. Call on the strand or before the io_context runs.
  Result<void> Start();
  // Closes every node, cancels timers and drops queued messages. Idempotent. Strand.
  void Stop();

  // A message from another partition on inbound `topic`: queued at the topic's targets. Any thread.
  void DeliverInbound(const std::string& topic, Msg msg);
  // Queues `msg` at node `node_id` (link nodes, tests). Strand. False for an unknown node.
  bool DeliverTo(const std::string& node_id, Msg msg);

  const flows::Partition& partition() const { return partition_; }
  bool running() const { return running_; }
  uint64_t dropped() const { return dropped_; }
  NodeStats Stats(const std::string& node_id) const;
  RuntimeNode* FindNode(const std::string& node_id) const;

  // For nodes.
  Host& host() { return host_; }
  Timers& timers() { return timers_; }
  const Clock& clock() const { return clock_; }
  const RuntimeOptions& options() const { return options_; }
  // options().outbound's answer for a node about to dial host:port (Ok when there is no policy).
  Result<void> CheckOutbound(const std::string& host, uint16_t port) const {
    return options_.outbound ? options_.outbound(host, port) : Result<void>(Ok());
  }
  Timers::Strand strand() const { return strand_; }
  nlohmann::json& FlowContext(const std::string& tab) { return flow_context_[tab]; }
  nlohmann::json& GlobalContext() { return global_context_; }
  const flows::ConfigNode* FindConfig(const std::string& id) const;
  // Node env, then NR_NODE_ID, NR_NODE_NAME, NR_FLOW_ID, EDGEWIRE_BOARD, EDGEWIRE_FLOW. The agent's
  // own process environment is deliberately not visible to flows.
  std::optional<nlohmann::json> Env(const flows::Node& node, const std::string& name) const;
  // Runs `fn` on the strand later if the runtime still exists then (host callbacks).
  void Post(std::function<void()> fn);

  void SendFrom(const RuntimeNode& from, size_t port, Msg msg);
  void ReportError(const RuntimeNode& from, const std::string& text, const Msg* msg);
  void ReportStatus(const RuntimeNode& from, const nlohmann::json& status);
  void ReportDone(const RuntimeNode& from, const Msg& msg);
  Timers::Id NodeTimer(const RuntimeNode& node, std::chrono::nanoseconds delay, std::function<void()> fn);
  void CancelNodeTimer(const RuntimeNode& node, Timers::Id id);

 private:
  struct Slot {
    std::unique_ptr<RuntimeNode> node;
    std::vector<std::vector<Slot*>> wires;             // per output port, local targets
    std::vector<std::vector<std::string>> outbound;    // per output port, cross-wire topics
    std::vector<Slot*> catchers, uncaught_catchers, status_watchers, complete_watchers;
    std::deque<Msg> inbox;
    bool scheduled = false;
    bool started = false;
    NodeStats stats;
    std::unordered_set<Timers::Id> timers;
  };

  Result<void> Wire();
  void Enqueue(Slot* slot, Msg msg);
  void Drain(Slot* slot);
  void Fanout(const std::vector<Slot*>& targets, const std::vector<std::string>* outbound, Msg msg);
  Slot* SlotOf(const RuntimeNode& node) const;
  Slot* SlotOf(const std::string& id) const;

  boost::asio::io_context& io_;
  const Clock& clock_;
  Host& host_;
  RuntimeOptions options_;
  Timers::Strand strand_;
  Timers timers_;
  flows::Partition partition_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unordered_map<std::string, Slot*> by_id_;
  std::unordered_map<const RuntimeNode*, Slot*> by_node_;
  std::map<std::string, std::vector<Slot*>> inbound_;
  std::map<std::string, nlohmann::json> flow_context_;
  nlohmann::json global_context_ = nlohmann::json::object();
  bool running_ = false;
  uint64_t dropped_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::flows::runtime
