#include "device-agent/flows/flow_service.hpp"

#include <fstream>
#include <sstream>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"
#include "common/contract/flow.hpp"
#include "flows/model/partition_json.hpp"
#include "flows/nodes/builtin_nodes.hpp"

namespace ew::agent::flows {

namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = ew::log::Get("flows");
  return logger;
}

// A flow id as a file name: hex of its bytes, so that no id can name another path.
std::string HexName(const std::string& flow) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : flow) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

FlowService::FlowService(boost::asio::io_context& io, FlowServiceOptions options, const ew::gpio::ChipSet& chips,
                         const Clock& clock)
    : io_(io), options_(std::move(options)), chips_(chips), clock_(clock), gap_timer_(io) {}

FlowService::~FlowService() {
  *alive_ = false;
  conductor_ = nullptr;  // the session may already be gone: no UNSUBSCRIBE at shutdown
  gap_timer_.cancel();
  std::vector<std::string> ids;
  for (const auto& [flow, r] : flows_) {
    ids.push_back(flow);
    // Nodes closing below may still report (a function node's status): not through the session.
    if (r.host) r.host->Detach();
  }
  for (const auto& flow : ids) Teardown(flow, false);
}

std::filesystem::path FlowService::PathOf(const std::string& flow) const {
  return options_.state_dir / (HexName(flow) + ".json");
}

Result<void> FlowService::Restore() {
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir, ec);
  if (ec) return Internal("flows: cannot create " + options_.state_dir.string() + ": " + ec.message());
  for (const auto& entry : std::filesystem::directory_iterator(options_.state_dir, ec)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    json::ParseLimits limits;
    limits.max_bytes = 8u << 20;
    limits.what = "flow record";
    auto record = json::Parse(text.str(), limits);
    if (!record || !record->is_object() || !(*record)["flow"].is_string() || !(*record)["seen"].is_number_unsigned()) {
      Log()->error("flows: {} is not a flow record; ignored", entry.path().string());
      continue;
    }
    std::string flow = (*record)["flow"];
    seen_[flow] = (*record)["seen"];
    if (!(*record)["partition"].is_object()) continue;  // stopped: only the version seen is kept
    auto partition = ew::flows::PartitionFromJson((*record)["partition"]);
    if (!partition) {
      Log()->error("flows: {}: {}", entry.path().string(), partition.error().message);
      continue;
    }
    if (auto started = Start(std::move(*partition)); !started)
      Log()->error("flows: flow {} did not start again: {}", flow, started.error().message);
    else
      Log()->info("flows: flow {} v{} resumed from disk", flow, seen_[flow]);
  }
  return Ok();
}

rpc::ProcedureTable FlowService::Procedures() {
  rpc::ProcedureTable table;
  table.push_back({contract::flow::kDeploy.suffix, rpc::Sync([this](const rpc::Request& call) -> Result<rpc::Reply> {
                     EW_TRY(auto request, contract::flow::DeployRequest::Parse(call));
                     return Deploy(request.partition);
                   })});
  table.push_back({contract::flow::kStop.suffix, rpc::Sync([this](const rpc::Request& call) -> Result<rpc::Reply> {
                     EW_TRY(auto request, contract::flow::StopRequest::Parse(call));
                     return Stop(request.flow);
                   })});
  table.push_back({contract::flow::kList.suffix, rpc::Sync([this](const rpc::Request&) { return List(); })});
  return table;
}

Result<rpc::Reply> FlowService::Deploy(const nlohmann::json& partition_json) {
  EW_TRY(ew::flows::Partition partition, ew::flows::PartitionFromJson(partition_json));
  if (partition.board != options_.board_id)
    return InvalidArgument("partition of flow " + partition.flow + " is for board \"" + partition.board + "\", not this one (" +
                           options_.board_id + ")");
  auto seen = seen_.find(partition.flow);
  if (seen != seen_.end() && partition.version < seen->second)
    return Conflict("flow " + partition.flow + ": version " + std::to_string(partition.version) +
                    " is older than version " + std::to_string(seen->second) + " already seen by this board");
  auto current = flows_.find(partition.flow);
  if (current != flows_.end() && current->second.partition.version == partition.version && current->second.state == contract::FlowRunState::kRunning) {
    return contract::flow::FlowState{partition.flow, static_cast<int64_t>(partition.version), contract::FlowRunState::kRunning}
        .ToPayload();
  }
  if (current == flows_.end() && flows_.size() >= options_.max_flows)
    return ResourceExhausted("this board already runs " + std::to_string(options_.max_flows) + " flows");
  const std::string flow = partition.flow;
  const uint64_t version = partition.version;
  auto started = Start(std::move(partition));
  // A partition that does not load changes nothing (Start leaves the running one alone); one
  // that loads is the newest seen, even if a busy GPIO line kept it from starting.
  if (!started && !flows_.count(flow)) return tl::unexpected<Error>(started.error());
  if (!started && flows_[flow].partition.version != version) return tl::unexpected<Error>(started.error());
  seen_[flow] = std::max(seen_[flow], version);
  if (auto persisted = Persist(flow); !persisted) Log()->error("flows: {}", persisted.error().message);
  if (!started) return tl::unexpected<Error>(started.error());
  Log()->info("flows: flow {} v{} deployed ({} nodes)", flow, version, flows_[flow].partition.nodes.size());
  return contract::flow::FlowState{flow, static_cast<int64_t>(version), flows_[flow].state}.ToPayload();
}

// Replaces whatever runs for the partition's flow. On a load error nothing changes; on a start
// error (a GPIO line busy) the flow is recorded as failed.
Result<void> FlowService::Start(ew::flows::Partition partition) {
  const std::string flow = partition.flow;
  Running next;
  next.partition = partition;
  WireOutboxOptions outbox_options;
  outbox_options.flow = flow;
  outbox_options.version = partition.version;
  outbox_options.board = options_.board_id;
  outbox_options.resume_delay = options_.wire_resume_delay;
  next.outbox = std::make_unique<WireOutbox>(io_, outbox_options, conductor_, spool_);
  AgentFlowHostOptions host_options;
  host_options.flow = flow;
  host_options.board = options_.board_id;
  next.host = std::make_unique<AgentFlowHost>(io_, host_options, chips_, clock_, *next.outbox, conductor_);
  next.runtime = std::make_unique<ew::flows::runtime::FlowRuntime>(io_, clock_, *next.host, options_.runtime);
  next.order = std::make_unique<ew::flows::runtime::WireOrder>(options_.wire_order);
  EW_TRY_VOID(next.runtime->Load(std::move(partition), ew::flows::nodes::BuiltinNodes()));

  const bool replacing = flows_.count(flow) > 0;
  if (replacing) Teardown(flow, true);  // frees its GPIO lines for the new version
  for (const auto& wire : next.runtime->partition().outbound) next.outbox->Declare(wire.topic);
  next.host->SetOnline(online_);
  next.outbox->SetOnline(online_);
  auto started = next.runtime->Start();
  next.state = started ? contract::FlowRunState::kRunning : contract::FlowRunState::kFailed;
  if (!started) next.error = started.error().message;
  if (conductor_ && started) {
    for (const auto& wire : next.runtime->partition().inbound)
      conductor_->Subscribe(wire.topic, [this, alive = std::weak_ptr<bool>(alive_), flow](const rpc::Request& event) {
        if (!alive.expired()) OnWireEvent(flow, event);
      });
  }
  flows_[flow] = std::move(next);
  if (!gap_armed_) ExpireGaps();
  if (!started) return tl::unexpected<Error>(started.error());
  return Ok();
}

void FlowService::Teardown(const std::string& flow, bool discard_spooled) {
  auto it = flows_.find(flow);
  if (it == flows_.end()) return;
  Running& r = it->second;
  if (r.runtime) {
    if (conductor_)
      for (const auto& wire : r.runtime->partition().inbound) conductor_->Unsubscribe(wire.topic);
    r.runtime->Stop();
  }
  if (discard_spooled && r.outbox) r.outbox->Discard();
  flows_.erase(it);
}

Result<rpc::Reply> FlowService::Stop(const std::string& flow) {
  auto it = flows_.find(flow);
  if (it == flows_.end()) return NotFound("flow " + flow + " is not deployed on this board");
  uint64_t version = it->second.partition.version;
  Teardown(flow, true);
  if (auto persisted = Persist(flow); !persisted) Log()->error("flows: {}", persisted.error().message);
  Log()->info("flows: flow {} v{} stopped", flow, version);
  return contract::flow::FlowState{flow, static_cast<int64_t>(version), contract::FlowRunState::kStopped}.ToPayload();
}

contract::flow::ListedFlow FlowService::Describe(const Running& r) const {
  contract::flow::ListedFlow d;
  d.flow = r.partition.flow;
  d.version = static_cast<int64_t>(r.partition.version);
  d.state = r.state;
  d.nodes = r.partition.nodes.size();
  d.spooled = r.outbox ? r.outbox->pending() : 0;
  d.dropped = (r.outbox ? r.outbox->dropped() : 0) + (r.runtime ? r.runtime->dropped() : 0);
  d.error = r.error;
  return d;
}

Result<rpc::Reply> FlowService::List() const {
  contract::flow::ListReply reply;
  for (const auto& [flow, r] : flows_) reply.flows.push_back(Describe(r));
  return reply.ToPayload();
}

size_t FlowService::running() const {
  size_t n = 0;
  for (const auto& [flow, r] : flows_) n += r.state == contract::FlowRunState::kRunning;
  return n;
}

// Written to a temporary file and renamed: a crash leaves the old record or the new, never half.
Result<void> FlowService::Persist(const std::string& flow) const {
  nlohmann::json record = {{"flow", flow}, {"seen", seen_.count(flow) ? seen_.at(flow) : 0}, {"partition", nullptr}};
  auto it = flows_.find(flow);
  if (it != flows_.end()) record["partition"] = ew::flows::ToJson(it->second.partition);
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir, ec);
  const auto path = PathOf(flow);
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << record.dump();
    out.flush();
    if (!out) return Internal("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Internal("cannot replace " + path.string() + ": " + ec.message());
  return Ok();
}

void FlowService::OnWireEvent(const std::string& flow, const rpc::Request& event) {
  auto it = flows_.find(flow);
  if (it == flows_.end() || it->second.state != contract::FlowRunState::kRunning) return;
  Running& r = it->second;
  const auto& kw = event.kwargs;
  if (!event.args.is_array() || event.args.empty() || !event.args[0].is_object() || !kw.is_object() ||
      !kw.contains("seq") || !kw["seq"].is_number_integer() || kw["seq"].get<int64_t>() < 1 || !kw.contains("from") ||
      !kw["from"].is_string() || (kw.contains("version") && !kw["version"].is_number_integer())) {
    Log()->debug("flows: flow {}: malformed event on {} dropped", flow, event.procedure);
    return;
  }
  uint64_t version = kw.contains("version") ? static_cast<uint64_t>(std::max<int64_t>(0, kw["version"].get<int64_t>())) : 0;
  if (version < r.partition.version) return;  // from a partition of an older deploy
  Log()->debug("flows: flow {}: {} seq {} from {}", flow, event.procedure, kw["seq"].get<uint64_t>(),
               ew::log::Untrusted(kw["from"].get<std::string>()));
  auto ready = r.order->Accept(event.procedure, kw["from"], version, kw["seq"].get<uint64_t>(), event.args[0], clock_.Steady());
  for (auto& msg : ready) r.runtime->DeliverInbound(event.procedure, std::move(msg));
}

// Held out-of-order messages whose gap outlived WireOrderOptions::gap_timeout go on.
void FlowService::ExpireGaps() {
  gap_armed_ = true;
  gap_timer_.expires_after(std::chrono::milliseconds(500));
  gap_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    for (auto& [flow, r] : flows_) {
      if (!r.order || !r.runtime) continue;
      for (auto& [topic, msg] : r.order->Expire(clock_.Steady())) r.runtime->DeliverInbound(topic, std::move(msg));
    }
    if (!flows_.empty()) ExpireGaps();
    else gap_armed_ = false;
  });
}

void FlowService::OnReady(const std::string&, uint64_t) {
  online_ = true;
  for (auto& [flow, r] : flows_) {
    if (r.host) r.host->SetOnline(true);
    if (r.outbox) r.outbox->SetOnline(true);
  }
  Sync();
}

void FlowService::OnDisconnected(const std::string&, std::chrono::milliseconds) {
  online_ = false;
  for (auto& [flow, r] : flows_) {
    if (r.host) r.host->SetOnline(false);
    if (r.outbox) r.outbox->SetOnline(false);
  }
}

// ew.conductor.flow.sync: what this board runs in, what it should run out.
void FlowService::Sync() {
  if (!conductor_) return;
  contract::flow::SyncRequest request;
  for (const auto& [flow, version] : seen_) {
    auto it = flows_.find(flow);
    if (it != flows_.end()) request.flows.push_back({flow, static_cast<int64_t>(it->second.partition.version)});
  }
  conductor_->Call(contract::flow::kSync.uri, request.ToPayload(), options_.sync_timeout,
                   [this, alive = std::weak_ptr<bool>(alive_)](Result<rpc::Reply> reply) {
                     if (alive.expired()) return;
                     if (!reply) {
                       Log()->warn("flows: ew.conductor.flow.sync failed: {}", reply.error().message);
                       return;
                     }
                     auto answer = contract::flow::SyncReply::Parse(*reply);
                     if (!answer) {
                       Log()->warn("flows: ew.conductor.flow.sync answered badly: {}", answer.error().message);
                       return;
                     }
                     for (const auto& partition : answer->deploy) {
                       auto done = Deploy(partition);
                       if (!done) Log()->warn("flows: sync deploy refused: {}", done.error().message);
                     }
                     for (const auto& flow : answer->stop) {
                       if (flows_.count(flow)) (void)Stop(flow);
                     }
                   });
}

}  // namespace ew::agent::flows
