// The conductor's side of distributed flows (flows contract, /work/flows-contract.md; docs/
// ARCHITECTURE.md → Flows): validates a Node-RED export, partitions it by placement, refuses
// partitions with node types their runtime does not implement, stores the version and deploys
// each board partition with ew.board.<board>.flow.deploy through the board gateway, and the cloud
// partition (cloud "conductor") to the CloudFlowRunner. Boards that are offline get their
// partitions (and the stops of flows they no longer run) when they register flow.deploy again, or
// when they ask ew.conductor.flow.sync. It also serves ew.conductor.fn.invoke (a board's
// `edgewire-function` node) and the cloud partitions' function calls through the functions
// service, and tells the router who may use each flow's ew.flow.<flow>.* topics.
//
// Threading: the accessors, Deploy, Delete and Status block on the store (never on boards): call
// them from the blocking pool. Deploy and Status answer through a callback, once the runtimes have
// answered or their wait is over, on whichever thread that happens (router strand, runner thread
// or the pool): REST workers never wait for boards. Gateway hooks post store work to the pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/flows/cloud_flow_runner.hpp"
#include "cloud-conductor/flows/flow_store.hpp"
#include "common/contract/flow.hpp"
#include "common/contract/states.hpp"
#include "cloud-conductor/registry/store.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"
#include "flows/model/flow_issue.hpp"
#include "flows/model/flow_loader.hpp"

namespace ew::functions {
class FunctionsService;
}

namespace ew::conductor::flows {

struct FlowsOptions {
  std::chrono::milliseconds deploy_timeout{30'000};  // one flow.deploy / flow.stop call on a board
  // How long Deploy waits for the runtimes' answers before it answers (the rest is reported as
  // pending and recorded when it comes). Online boards answer in milliseconds; a waiting deploy
  // holds no thread, only a timer.
  std::chrono::milliseconds deploy_wait{2'000};
  std::chrono::milliseconds status_timeout{3'000};  // flow.list on each board for Status
  ew::flows::FlowLimits limits;                     // of a posted export
  // Flows of one project (each may hold a cloud partition the conductor runs, on one thread with
  // every project's); a new one past it → ResourceExhausted (429). New versions always go.
  size_t max_flows_per_project = 32;
};

// The outcome of a deploy request: the flow, or why it was refused.
struct DeployOutcome {
  bool created = false;  // a new flow (201) rather than a new version of one (200)
  FlowRecord flow;
  std::vector<PartitionRecord> partitions;
};

// A validation failure: the first issue in the error's message, all of them here.
struct DeployRefusal {
  Error error;
  std::vector<ew::flows::FlowIssue> issues;
};

struct PartitionStatus {
  PartitionRecord partition;
  bool online = false;
  int64_t running_version = 0;  // what the board runs now (flow.list), else the last known
  std::optional<int64_t> spooled;
  std::optional<int64_t> dropped;
  // Wire messages for this board the router keeps while it is away, and dropped for want of room.
  int64_t relay_buffered = 0;
  int64_t relay_dropped = 0;
};

// What a runtime answered to flow.deploy, as a partition state.
struct DeployAnswer {
  contract::PartitionState state = contract::PartitionState::kPending;
  std::string error;
  int64_t running_version = 0;
};

using DeployResult = tl::expected<DeployOutcome, DeployRefusal>;
using DeployDone = std::function<void(DeployResult)>;
using StatusDone = std::function<void(Result<std::vector<PartitionStatus>>)>;

class FlowsService {
 public:
  // `functions` may be null (fn.invoke then answers Unavailable); `cloud` may be null (cloud
  // partitions of cloud "conductor" flows then stay pending). Both outlive the service.
  FlowsService(FlowStore& store, registry::Store& registry, router::BoardGateway& gateway,
               functions::FunctionsService* functions, boost::asio::thread_pool& blocking, const Clock& clock,
               FlowsOptions options = {}, CloudFlowRunner* cloud = nullptr);
  ~FlowsService();

  // Serves ew.conductor.flow.sync and ew.conductor.fn.invoke, listens for boards registering
  // flow.deploy / flow.stop, gives the router every stored flow's access and starts the stored
  // cloud partitions in the cloud runner. Call once.
  Result<void> Start();

  // What REST shows (the store's records; see FlowStore for the errors).
  Result<FlowRecord> GetFlow(const std::string& id) { return store_.GetFlow(id); }
  Result<Page<FlowRecord>> ListFlows(const std::string& project_id, const PageRequest& page) {
    return store_.ListFlows(project_id, page);
  }
  Result<FlowVersion> GetVersion(const std::string& flow_id, int64_t version) {
    return store_.GetVersion(flow_id, version);
  }
  // The latest version's partitions with their recorded states (no runtime is asked).
  Result<std::vector<PartitionRecord>> Partitions(const std::string& flow_id) { return store_.ListPartitions(flow_id); }

  // Validates, partitions and stores a new version of flow `name` in `project_id` (a new flow
  // when there is none by that name), then deploys it: each board partition to its board, flow.stop
  // to boards the previous version used and this one does not. `cloud` is "conductor" or
  // "external". A refusal (nothing stored, nothing deployed) carries every issue: export invalid,
  // a board that does not exist or is in another project, a node type the board (or, for
  // "conductor", the cloud runner) does not implement, a GPIO node left in the conductor's cloud.
  // `done` runs exactly once: at once with a refusal; else when every partition's runtime has
  // answered or `wait` (FlowsOptions::deploy_wait when nullopt) is over, with the states known
  // then (kPending for those still to answer; their answers are recorded when they come).
  void Deploy(const std::string& project_id, const std::string& name, const nlohmann::json& nodes,
              const std::string& cloud, DeployDone done, std::optional<std::chrono::milliseconds> wait = std::nullopt);
  // Stops the flow on every board it has a partition on (offline ones when they return) and
  // forgets it.
  Result<void> Delete(const FlowRecord& flow);
  // Each partition with what its runtime says now (flow.list) when it is online (the cloud runner
  // always is), for at most FlowsOptions::status_timeout. `done` runs exactly once, on any thread.
  void Status(const FlowRecord& flow, StatusDone done);

  // A cloud partition's edgewire-function call (the cloud runner's FlowInvoker): the function is
  // looked up in the flow's project. Any thread; `done` runs once, on any thread.
  void InvokeFromCloud(const std::string& flow_id, const ew::flows::runtime::FunctionCall& call,
                       std::function<void(Result<nlohmann::json>)> done);

 private:
  // Calls flow.deploy on the partition's board (offline: recorded so) and records the answer;
  // `answered` (may be null) hears it once it is recorded, on the blocking pool.
  void StartDeploy(const PartitionRecord& partition, std::function<void(const DeployAnswer&)> answered);
  // The cloud partition to the cloud runner (Deploy's and Start's path for board "").
  void StartCloudDeploy(const PartitionRecord& partition, std::function<void(const DeployAnswer&)> answered);
  void RecordAnswer(const PartitionRecord& partition, const DeployAnswer& answer);
  // Records the answer on the blocking pool, then hands it to `answered` (the deploy's waiting caller).
  void RecordThenAnswer(const PartitionRecord& partition, const DeployAnswer& answer,
                        std::function<void(const DeployAnswer&)> answered, const std::weak_ptr<bool>& alive);
  void StartStop(const std::string& flow_id, const std::string& board_id);
  void OnBoardRegistered(const std::string& board_id, const std::string& suffix);
  Result<wamp::Payload> Sync(const std::string& board_id, const contract::flow::SyncRequest& request);
  void Invoke(const std::string& board_id, contract::flow::InvokeRequest request, router::BoardGateway::Reply reply);
  // Runs `request` for a node of a flow of `project_id`: on a board (`board_id`) or in the cloud
  // partition (board_id ""). Blocking pool.
  void InvokeFor(const std::string& project_id, const std::string& board_id, contract::flow::InvokeRequest request,
                 router::BoardGateway::Reply reply);

  void PublishAccess(const std::string& flow_id);

  FlowStore& store_;
  registry::Store& registry_;
  router::BoardGateway& gateway_;
  functions::FunctionsService* functions_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  FlowsOptions options_;
  CloudFlowRunner* cloud_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::conductor::flows
