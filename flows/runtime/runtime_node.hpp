// The base of every node implementation (flows/nodes): what a node sees of the runtime. Mirrors
// Node-RED's node API: input handler, send (one message, a message per output, arrays of
// messages), error/warn to catch nodes and the log, status to status nodes, done to complete
// nodes. Every method runs on the runtime's strand.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "flows/model/partition.hpp"
#include "flows/runtime/message.hpp"
#include "flows/runtime/timers.hpp"

namespace ew::flows::runtime {

class FlowRuntime;
class Host;

class RuntimeNode {
 public:
  RuntimeNode(FlowRuntime& runtime, const flows::Node& def) : rt_(runtime), def_(def) {}
  virtual ~RuntimeNode() = default;
  RuntimeNode(const RuntimeNode&) = delete;
  RuntimeNode& operator=(const RuntimeNode&) = delete;

  // After every node of the partition exists: sources start timers, GPIO nodes take their lines.
  // An error fails the deploy (the runtime closes what already started).
  virtual Result<void> Start() { return Ok(); }
  // One message from the node's input queue.
  virtual void OnInput(Msg msg) = 0;
  // Stop: release lines, connections; the runtime cancels the node's timers itself.
  virtual void Close() {}
  // True for nodes that finish a message later (delay, trigger, http request, function): they call
  // Done() themselves. Others are done when OnInput returns (Node-RED's done() after send()).
  virtual bool completes_later() const { return false; }

  const flows::Node& def() const { return def_; }
  const std::string& id() const { return def_.id; }

 protected:
  // Output port 0.
  void Send(Msg msg);
  void SendTo(size_t port, Msg msg);
  // Node-RED's send(x): an object goes to output 0; an array holds, per output, null (nothing),
  // a message, or an array of messages.
  void SendMany(nlohmann::json outputs);
  // node.error(text, msg): to the tab's catch nodes with msg.error set; without a message only logged.
  void Error(const std::string& text, const Msg* msg = nullptr);
  void Warn(const std::string& text);
  // node.status({fill, shape, text}); empty fill and text clear it.
  void SetStatus(const std::string& fill, const std::string& shape, const std::string& text);
  void Done(const Msg& msg);

  // Timers owned by this node: cancelled when the node closes.
  Timers::Id After(std::chrono::nanoseconds delay, std::function<void()> fn);
  void CancelTimer(Timers::Id id);
  const Clock& clock() const;
  int64_t NowMs() const;
  Host& host();
  FlowRuntime& runtime() { return rt_; }
  // "<flow>/<node>": who holds GPIO lines for this node.
  std::string Owner() const;

  // A string prop ("" when absent or not a string); numbers given as strings are common in exports.
  std::string StrProp(const char* name, const std::string& fallback = "") const;
  // A numeric prop that may be exported as a number or a numeric string.
  std::optional<double> NumProp(const char* name) const;
  bool BoolProp(const char* name, bool fallback = false) const;

  FlowRuntime& rt_;
  const flows::Node& def_;
};

// "node <id> (<type>) on tab <tab>: <message>" — how load errors name a node.
std::string NodeLabel(const flows::Node& node);
Error NodeError(const flows::Node& node, const std::string& message);

}  // namespace ew::flows::runtime
