#include "flows/runtime/flow_runtime.hpp"

#include <algorithm>
#include <exception>

#include <boost/asio/post.hpp>

#include "common/log/log.hpp"
#include "flows/runtime/supported_types.hpp"

namespace ew::flows::runtime {

namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = ew::log::Get("flows");
  return logger;
}

// A catch/status/complete node's scope: null (the whole tab), "group", or a list of node ids.
bool InScope(const flows::Node& watcher, const flows::Node& source) {
  if (watcher.tab != source.tab) return false;
  auto it = watcher.props.find("scope");
  if (it == watcher.props.end() || it->is_null()) return true;
  if (it->is_string() && *it == "group") {
    auto wg = watcher.props.find("g");
    auto sg = source.props.find("g");
    return wg != watcher.props.end() && sg != source.props.end() && *wg == *sg;
  }
  if (it->is_array())
    return std::any_of(it->begin(), it->end(), [&](const nlohmann::json& id) { return id == source.id; });
  return false;
}

}  // namespace

FlowRuntime::FlowRuntime(boost::asio::io_context& io, const Clock& clock, Host& host, RuntimeOptions options)
    : io_(io), clock_(clock), host_(host), options_(options), strand_(io.get_executor()), timers_(clock, strand_) {}

FlowRuntime::~FlowRuntime() {
  *alive_ = false;
  Stop();
}

Result<void> FlowRuntime::Load(flows::Partition partition, const NodeRegistry& registry) {
  if (!slots_.empty()) return Conflict("flow runtime already loaded");
  partition_ = std::move(partition);
  for (auto& node : partition_.nodes) {
    if (node.props.is_null()) node.props = nlohmann::json::object();
    if (node.env.is_null()) node.env = nlohmann::json::object();
    if (!node.props.is_object() || !node.env.is_object()) return tl::unexpected<ew::Error>(NodeError(node, "props and env must be objects"));
  }
  for (const auto& config : partition_.configs) {
    if (!IsSupportedConfigType(config.type))
      return InvalidArgument("config node " + config.id + " (" + config.type + ") is not supported on this runtime");
  }
  std::vector<std::unique_ptr<Slot>> slots;
  for (const auto& def : partition_.nodes) {
    if (def.type == "comment") continue;
    const NodeFactory* factory = IsSupportedNodeType(def.type) ? registry.Find(def.type) : nullptr;
    if (!factory) {
      slots_.clear();
      return tl::unexpected<ew::Error>(NodeError(def, "node type \"" + def.type + "\" is not supported on this runtime"));
    }
    if (by_id_.count(def.id)) return tl::unexpected<ew::Error>(NodeError(def, "duplicate node id"));
    auto node = (*factory)(*this, def);
    if (!node) {
      by_id_.clear();
      by_node_.clear();
      slots_.clear();
      return tl::unexpected<ew::Error>(NodeError(def, node.error().message));
    }
    auto slot = std::make_unique<Slot>();
    slot->node = std::move(*node);
    by_id_[def.id] = slot.get();
    by_node_[slot->node.get()] = slot.get();
    slots_.push_back(std::move(slot));
  }
  if (auto wired = Wire(); !wired) {
    by_id_.clear();
    by_node_.clear();
    slots_.clear();
    return wired;
  }
  return Ok();
}

Result<void> FlowRuntime::Wire() {
  for (auto& slot : slots_) {
    const auto& def = slot->node->def();
    slot->wires.resize(def.wires.size());
    slot->outbound.resize(def.wires.size());
    for (size_t port = 0; port < def.wires.size(); ++port) {
      for (const auto& target : def.wires[port]) {
        Slot* to = SlotOf(target);
        if (!to) {
          // A wire to a comment, or to a node another partition runs without an outbound entry.
          bool is_comment = std::any_of(partition_.nodes.begin(), partition_.nodes.end(),
                                        [&](const flows::Node& n) { return n.id == target; });
          if (is_comment) continue;
          return tl::unexpected<ew::Error>(NodeError(def, "wire to node " + target + ", which is not in this partition"));
        }
        slot->wires[port].push_back(to);
      }
    }
  }
  for (const auto& wire : partition_.outbound) {
    Slot* from = SlotOf(wire.node);
    if (!from) return InvalidArgument("outbound wire " + wire.topic + " from unknown node " + wire.node);
    if (from->outbound.size() <= wire.port) {
      from->outbound.resize(wire.port + 1);
      from->wires.resize(wire.port + 1);
    }
    from->outbound[wire.port].push_back(wire.topic);
  }
  for (const auto& wire : partition_.inbound) {
    for (const auto& target : wire.targets) {
      Slot* to = SlotOf(target);
      if (!to) return InvalidArgument("inbound wire " + wire.topic + " to unknown node " + target);
      inbound_[wire.topic].push_back(to);
    }
  }
  // Who watches whom: catch, status and complete nodes, resolved once.
  for (auto& watcher : slots_) {
    const auto& w = watcher->node->def();
    bool is_catch = w.type == "catch", is_status = w.type == "status", is_complete = w.type == "complete";
    if (!is_catch && !is_status && !is_complete) continue;
    bool uncaught = w.props.value("uncaught", false);
    for (auto& source : slots_) {
      const auto& s = source->node->def();
      if (!InScope(w, s)) continue;
      if (is_catch) (uncaught ? source->uncaught_catchers : source->catchers).push_back(watcher.get());
      if (is_status && source.get() != watcher.get()) source->status_watchers.push_back(watcher.get());
      // A complete node watching every node would also see itself and its peers: only others.
      if (is_complete && s.type != "complete" && s.type != "catch" && s.type != "status")
        source->complete_watchers.push_back(watcher.get());
    }
  }
  return Ok();
}

Result<void> FlowRuntime::Start() {
  if (running_) return Ok();
  running_ = true;
  for (auto& slot : slots_) {
    auto started = slot->node->Start();
    if (!started) {
      Error error = NodeError(slot->node->def(), started.error().message);
      error.code = started.error().code;
      Stop();
      return tl::unexpected<Error>(std::move(error));
    }
    slot->started = true;
  }
  Log()->info("flow {} v{} started: {} nodes", partition_.flow, partition_.version, slots_.size());
  return Ok();
}

void FlowRuntime::Stop() {
  if (!running_) return;
  running_ = false;
  for (auto& slot : slots_) {
    if (slot->started) {
      try {
        slot->node->Close();
      } catch (const std::exception& e) {
        Log()->warn("flow {}: closing {}: {}", partition_.flow, NodeLabel(slot->node->def()), e.what());
      }
      slot->started = false;
    }
    for (auto id : slot->timers) timers_.Cancel(id);
    slot->timers.clear();
    slot->inbox.clear();
  }
}

void FlowRuntime::Post(std::function<void()> fn) {
  boost::asio::post(strand_, [fn = std::move(fn), alive = alive_] {
    if (*alive) fn();
  });
}

void FlowRuntime::DeliverInbound(const std::string& topic, Msg msg) {
  Post([this, topic, msg = std::move(msg)]() mutable {
    auto it = inbound_.find(topic);
    if (it == inbound_.end() || !running_) return;
    if (!msg.is_object()) msg = NewMessage();
    if (!msg.contains("_msgid")) msg["_msgid"] = NewMessageId();
    Fanout(it->second, nullptr, std::move(msg));
  });
}

bool FlowRuntime::DeliverTo(const std::string& node_id, Msg msg) {
  Slot* slot = SlotOf(node_id);
  if (!slot) return false;
  Enqueue(slot, std::move(msg));
  return true;
}

NodeStats FlowRuntime::Stats(const std::string& node_id) const {
  Slot* slot = SlotOf(node_id);
  return slot ? slot->stats : NodeStats{};
}

RuntimeNode* FlowRuntime::FindNode(const std::string& node_id) const {
  Slot* slot = SlotOf(node_id);
  return slot ? slot->node.get() : nullptr;
}

const flows::ConfigNode* FlowRuntime::FindConfig(const std::string& id) const {
  for (const auto& c : partition_.configs)
    if (c.id == id) return &c;
  return nullptr;
}

std::optional<nlohmann::json> FlowRuntime::Env(const flows::Node& node, const std::string& name) const {
  auto it = node.env.find(name);
  if (it != node.env.end()) return *it;
  if (name == "NR_NODE_ID") return node.id;
  if (name == "NR_NODE_NAME") return node.name;
  if (name == "NR_FLOW_ID") return node.tab;
  if (name == "EDGEWIRE_BOARD") return partition_.board;
  if (name == "EDGEWIRE_FLOW") return partition_.flow;
  return std::nullopt;
}

FlowRuntime::Slot* FlowRuntime::SlotOf(const RuntimeNode& node) const {
  auto it = by_node_.find(&node);
  return it == by_node_.end() ? nullptr : it->second;
}

FlowRuntime::Slot* FlowRuntime::SlotOf(const std::string& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

void FlowRuntime::Enqueue(Slot* slot, Msg msg) {
  if (!running_) return;
  if (slot->inbox.size() >= options_.max_queue) {
    ++slot->stats.dropped;
    ++dropped_;
    if (slot->stats.dropped == 1 || slot->stats.dropped % 10000 == 0)
      Log()->warn("flow {}: {} input queue full ({} messages): {} dropped so far", partition_.flow,
                  NodeLabel(slot->node->def()), options_.max_queue, slot->stats.dropped);
    return;
  }
  slot->inbox.push_back(std::move(msg));
  if (slot->scheduled) return;
  slot->scheduled = true;
  boost::asio::post(strand_, [this, slot, alive = alive_] {
    if (*alive) Drain(slot);
  });
}

// One message per handler: a busy node cannot starve the others on the strand.
void FlowRuntime::Drain(Slot* slot) {
  slot->scheduled = false;
  if (slot->inbox.empty() || !running_) return;
  Msg msg = std::move(slot->inbox.front());
  slot->inbox.pop_front();
  ++slot->stats.received;
  RuntimeNode& node = *slot->node;
  const bool report_done = !slot->complete_watchers.empty() && !node.completes_later();
  Msg copy = report_done ? msg : Msg();
  try {
    node.OnInput(std::move(msg));
    if (report_done) ReportDone(node, copy);
  } catch (const std::exception& e) {
    // nlohmann type errors and the like: Node-RED turns a throwing handler into node.error.
    Msg failed = report_done ? copy : NewMessage();
    ReportError(node, e.what(), &failed);
  }
  if (!slot->inbox.empty() && !slot->scheduled) {
    slot->scheduled = true;
    boost::asio::post(strand_, [this, slot, alive = alive_] {
      if (*alive) Drain(slot);
    });
  }
}

void FlowRuntime::Fanout(const std::vector<Slot*>& targets, const std::vector<std::string>* outbound, Msg msg) {
  // The clones are taken before the original is handed over; targets are queued in wire order.
  std::vector<Msg> clones;
  if (targets.size() > 1) {
    clones.reserve(targets.size() - 1);
    for (size_t i = 1; i < targets.size(); ++i) clones.push_back(msg);
  }
  if (outbound) {
    for (size_t i = 0; i < outbound->size(); ++i) {
      bool last_consumer = targets.empty() && i + 1 == outbound->size();
      host_.PublishWire((*outbound)[i], last_consumer ? std::move(msg) : Msg(msg));
    }
  }
  if (targets.empty()) return;
  Enqueue(targets[0], std::move(msg));
  for (size_t i = 1; i < targets.size(); ++i) Enqueue(targets[i], std::move(clones[i - 1]));
}

void FlowRuntime::SendFrom(const RuntimeNode& from, size_t port, Msg msg) {
  Slot* slot = SlotOf(from);
  if (!slot || !running_ || port >= slot->wires.size()) return;
  if (!msg.is_object()) return;  // Node-RED ignores non-object messages
  if (!msg.contains("_msgid")) msg["_msgid"] = NewMessageId();
  const auto& targets = slot->wires[port];
  const auto* outbound = port < slot->outbound.size() && !slot->outbound[port].empty() ? &slot->outbound[port] : nullptr;
  if (targets.empty() && !outbound) return;
  Fanout(targets, outbound, std::move(msg));
}

void FlowRuntime::ReportError(const RuntimeNode& from, const std::string& text, const Msg* msg) {
  const auto& def = from.def();
  host_.Log("error", def.id, text);
  Slot* slot = SlotOf(from);
  if (!msg || !slot) {
    Log()->warn("flow {}: {}: {}", partition_.flow, NodeLabel(def), text);
    return;
  }
  int count = 1;
  if (auto e = msg->find("error"); e != msg->end() && e->is_object()) {
    auto source = e->find("source");
    if (source != e->end() && source->is_object() && source->value("id", "") == def.id)
      count = source->value("count", 0) + 1;
  }
  if (count > options_.max_catch_loops) {
    Log()->warn("flow {}: {}: message caught {} times, dropped (error loop)", partition_.flow, NodeLabel(def), count - 1);
    return;
  }
  const auto& catchers = !slot->catchers.empty() ? slot->catchers : slot->uncaught_catchers;
  if (catchers.empty()) {
    Log()->warn("flow {}: {}: {}", partition_.flow, NodeLabel(def), text);
    return;
  }
  Msg out = *msg;
  out["error"] = {{"message", text},
                  {"source", {{"id", def.id}, {"type", def.type}, {"name", def.name}, {"count", count}}}};
  for (Slot* c : catchers) Enqueue(c, out);
}

void FlowRuntime::ReportStatus(const RuntimeNode& from, const nlohmann::json& status) {
  host_.Status(from.id(), status);
  Slot* slot = SlotOf(from);
  if (!slot || slot->status_watchers.empty()) return;
  const auto& def = from.def();
  Msg msg = NewMessage();
  msg["status"] = status;
  msg["status"]["source"] = {{"id", def.id}, {"type", def.type}, {"name", def.name}};
  for (Slot* s : slot->status_watchers) Enqueue(s, msg);
}

void FlowRuntime::ReportDone(const RuntimeNode& from, const Msg& msg) {
  Slot* slot = SlotOf(from);
  if (!slot) return;
  for (Slot* c : slot->complete_watchers) Enqueue(c, msg);
}

Timers::Id FlowRuntime::NodeTimer(const RuntimeNode& node, std::chrono::nanoseconds delay, std::function<void()> fn) {
  Slot* slot = SlotOf(node);
  if (!slot || !running_) return 0;
  auto id = std::make_shared<Timers::Id>(0);
  *id = timers_.After(delay, [slot, id, fn = std::move(fn), this] {
    slot->timers.erase(*id);
    if (!running_) return;
    try {
      fn();
    } catch (const std::exception& e) {
      ReportError(*slot->node, e.what(), nullptr);
    }
  });
  slot->timers.insert(*id);
  return *id;
}

void FlowRuntime::CancelNodeTimer(const RuntimeNode& node, Timers::Id id) {
  if (Slot* slot = SlotOf(node)) slot->timers.erase(id);
  timers_.Cancel(id);
}

}  // namespace ew::flows::runtime
