#include "cloud-conductor/flows/cloud_flow_runner.hpp"

#include <boost/asio/post.hpp>

#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "flows/model/partition_json.hpp"
#include "flows/nodes/builtin_nodes.hpp"

namespace ew::conductor::flows {

namespace {

const ew::log::Logger Log{"flows"};

using contract::FlowRunState;

}  // namespace

struct CloudFlowRunner::Running {
  ew::flows::Partition partition;
  FlowRunState state = FlowRunState::kRunning;
  std::string error;
  std::unique_ptr<CloudFlowHost> host;
  std::unique_ptr<ew::flows::runtime::FlowRuntime> runtime;
  std::unique_ptr<ew::flows::runtime::WireOrder> order;
};

CloudFlowRunner::CloudFlowRunner(router::BoardGateway& gateway, const Clock& clock, FlowInvoker invoker,
                                 CloudFlowRunnerOptions options)
    : gateway_(gateway),
      clock_(clock),
      invoker_(std::move(invoker)),
      options_(std::move(options)),
      from_("cloud:" + (options_.run_id.empty() ? ids::NewId("run").substr(4, 8) : options_.run_id)),
      work_(io_.get_executor()),
      gap_timer_(io_) {
  gateway_.OnFlowPublication([this, alive = std::weak_ptr<bool>(alive_)](const std::string& topic,
                                                                         const wamp::Payload& payload) {
    if (!alive.expired()) OnWire(topic, payload);
  });
  thread_ = std::thread([this] { io_.run(); });
}

CloudFlowRunner::~CloudFlowRunner() {
  *alive_ = false;
  boost::asio::post(io_, [this] {
    gap_timer_.cancel();
    std::vector<std::string> ids;
    for (const auto& [flow, r] : flows_) ids.push_back(flow);
    for (const auto& flow : ids) TearDown(flow);
    work_.reset();
  });
  thread_.join();
}

void CloudFlowRunner::Deploy(nlohmann::json partition, StateDone done) {
  boost::asio::post(io_, [this, partition = std::move(partition), done = std::move(done)] { done(DeployNow(partition)); });
}

void CloudFlowRunner::Stop(const std::string& flow_id, StateDone done) {
  boost::asio::post(io_, [this, flow_id, done = std::move(done)]() {
    auto it = flows_.find(flow_id);
    if (it == flows_.end()) return done(NotFound("flow " + flow_id + " does not run in the conductor"));
    const auto version = static_cast<int64_t>(it->second->partition.version);
    TearDown(flow_id);
    Log()->info("cloud flow {} v{} stopped", flow_id, version);
    done(contract::flow::FlowState{flow_id, version, FlowRunState::kStopped});
  });
}

void CloudFlowRunner::List(std::function<void(contract::flow::ListReply)> done) {
  boost::asio::post(io_, [this, done = std::move(done)] {
    contract::flow::ListReply reply;
    for (const auto& [flow, r] : flows_) {
      contract::flow::ListedFlow d;
      d.flow = flow;
      d.version = static_cast<int64_t>(r->partition.version);
      d.state = r->state;
      d.nodes = r->partition.nodes.size();
      d.dropped = (r->runtime ? r->runtime->dropped() : 0) + (r->host ? r->host->debug_dropped() : 0);
      d.error = r->error;
      reply.flows.push_back(std::move(d));
    }
    done(std::move(reply));
  });
}

Result<contract::flow::FlowState> CloudFlowRunner::DeployNow(const nlohmann::json& partition_json) {
  EW_TRY(ew::flows::Partition partition, ew::flows::PartitionFromJson(partition_json));
  if (!partition.board.empty())
    return InvalidArgument("partition of flow " + partition.flow + " is for board \"" + partition.board +
                           "\", not the cloud");
  const std::string flow = partition.flow;
  const uint64_t version = partition.version;
  if (auto seen = seen_.find(flow); seen != seen_.end() && version < seen->second)
    return Conflict("flow " + flow + ": version " + std::to_string(version) + " is older than version " +
                    std::to_string(seen->second) + " already run by the conductor");
  auto current = flows_.find(flow);
  if (current != flows_.end() && current->second->partition.version == version &&
      current->second->state == FlowRunState::kRunning)
    return contract::flow::FlowState{flow, static_cast<int64_t>(version), FlowRunState::kRunning};
  if (current == flows_.end() && flows_.size() >= options_.max_flows)
    return ResourceExhausted("the conductor already runs " + std::to_string(options_.max_flows) + " cloud partitions");

  auto next = std::make_unique<Running>();
  next->partition = partition;
  CloudFlowHostOptions host_options;
  host_options.flow = flow;
  host_options.version = version;
  host_options.from = from_;
  host_options.debug_per_second = options_.debug_per_second;
  next->host = std::make_unique<CloudFlowHost>(host_options, gateway_, clock_, invoker_);
  next->runtime = std::make_unique<ew::flows::runtime::FlowRuntime>(io_, clock_, *next->host, options_.runtime);
  next->order = std::make_unique<ew::flows::runtime::WireOrder>(options_.wire_order);
  // A partition that does not load changes nothing: the running version goes on.
  EW_TRY_VOID(next->runtime->Load(std::move(partition), ew::flows::nodes::BuiltinNodes()));
  if (current != flows_.end()) TearDown(flow);
  seen_[flow] = std::max(seen_[flow], version);
  auto started = next->runtime->Start();
  if (!started) {
    next->state = FlowRunState::kFailed;
    next->error = started.error().message;
  }
  if (started) {
    std::lock_guard lock(inbound_mu_);
    for (const auto& wire : next->runtime->partition().inbound) inbound_[wire.topic] = flow;
  }
  const size_t nodes = next->runtime->partition().nodes.size();
  flows_[flow] = std::move(next);
  if (flows_.size() == 1) ExpireGaps();
  if (!started) {
    Log()->warn("cloud flow {} v{} failed to start: {}", flow, version, started.error().message);
    return tl::unexpected<Error>(started.error());
  }
  Log()->info("cloud flow {} v{} running in the conductor ({} nodes)", flow, version, nodes);
  return contract::flow::FlowState{flow, static_cast<int64_t>(version), FlowRunState::kRunning};
}

void CloudFlowRunner::TearDown(const std::string& flow_id) {
  auto it = flows_.find(flow_id);
  if (it == flows_.end()) return;
  {
    std::lock_guard lock(inbound_mu_);
    for (auto i = inbound_.begin(); i != inbound_.end();) {
      if (i->second == flow_id) i = inbound_.erase(i);
      else ++i;
    }
  }
  if (it->second->runtime) it->second->runtime->Stop();
  flows_.erase(it);
}

// The router's strand: only a lookup, then the work moves to the runner's thread.
void CloudFlowRunner::OnWire(const std::string& topic, const wamp::Payload& payload) {
  std::string flow;
  {
    std::lock_guard lock(inbound_mu_);
    auto it = inbound_.find(topic);
    if (it == inbound_.end()) return;
    flow = it->second;
  }
  boost::asio::post(io_, [this, flow, topic, payload] {
    auto it = flows_.find(flow);
    if (it == flows_.end() || it->second->state != FlowRunState::kRunning) return;
    Running& r = *it->second;
    const auto& kw = payload.kwargs;
    if (!payload.args.is_array() || payload.args.empty() || !payload.args[0].is_object() || !kw.is_object() ||
        !kw.contains("seq") || !kw["seq"].is_number_integer() || kw["seq"].get<int64_t>() < 1 ||
        !kw.contains("from") || !kw["from"].is_string() ||
        (kw.contains("version") && !kw["version"].is_number_integer())) {
      Log()->debug("cloud flow {}: malformed event on {} dropped", flow, topic);
      return;
    }
    const uint64_t version =
        kw.contains("version") ? static_cast<uint64_t>(std::max<int64_t>(0, kw["version"].get<int64_t>())) : 0;
    if (version < r.partition.version) return;  // from a partition of an older deploy
    auto ready = r.order->Accept(topic, kw["from"].get<std::string>(), version, kw["seq"].get<uint64_t>(),
                                 payload.args[0], clock_.Steady());
    for (auto& msg : ready) r.runtime->DeliverInbound(topic, std::move(msg));
  });
}

// Held out-of-order messages whose gap outlived WireOrderOptions::gap_timeout go on.
void CloudFlowRunner::ExpireGaps() {
  gap_timer_.expires_after(std::chrono::milliseconds(500));
  gap_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || flows_.empty()) return;
    for (auto& [flow, r] : flows_) {
      if (!r->order || !r->runtime) continue;
      for (auto& [topic, msg] : r->order->Expire(clock_.Steady())) r->runtime->DeliverInbound(topic, std::move(msg));
    }
    ExpireGaps();
  });
}

}  // namespace ew::conductor::flows
