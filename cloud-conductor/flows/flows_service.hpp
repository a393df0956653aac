// The conductor's side of distributed flows (flows contract, /work/flows-contract.md; docs/
// ARCHITECTURE.md → Flows): validates a Node-RED export, partitions it by placement, refuses board
// partitions with node types a board runtime does not implement, stores the version and deploys
// each board partition with ew.board.<board>.flow.deploy through the board gateway. Boards that
// are offline get their partitions (and the stops of flows they no longer run) when they register
// flow.deploy again, or when they ask ew.conductor.flow.sync. It also serves
// ew.conductor.fn.invoke (a board's `edgewire-function` node) through the functions service, and
// tells the router who may use each flow's ew.flow.<flow>.* topics.
//
// Threading: Deploy/Delete/Status and the accessors block on the store and wait for boards' answers
// (at most `deploy_wait`): call them from the blocking pool. Gateway hooks post store work there.
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

#include "common/contract/flow.hpp"
#include "cloud-conductor/flows/flow_store.hpp"
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
  // How long Deploy waits for the boards' answers before it returns (the rest is reported as
  // pending and recorded when it comes).
  std::chrono::milliseconds deploy_wait{10'000};
  std::chrono::milliseconds status_timeout{3'000};  // flow.list on each board for Status
  ew::flows::FlowLimits limits;                     // of a posted export
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
};

// What a board answered to flow.deploy, as a partition state.
struct DeployAnswer {
  std::string state;
  std::string error;
  int64_t running_version = 0;
};

class FlowsService {
 public:
  // `functions` may be null (fn.invoke then answers Unavailable).
  FlowsService(FlowStore& store, registry::Store& registry, router::BoardGateway& gateway,
               functions::FunctionsService* functions, boost::asio::thread_pool& blocking, const Clock& clock,
               FlowsOptions options = {});
  ~FlowsService();

  // Serves ew.conductor.flow.sync and ew.conductor.fn.invoke, listens for boards registering
  // flow.deploy / flow.stop, and gives the router every stored flow's access. Call once.
  Result<void> Start();

  FlowStore& store() { return store_; }

  // Validates, partitions and stores a new version of flow `name` in `project_id` (a new flow
  // when there is none by that name), then deploys it: each board partition to its board, flow.stop
  // to boards the previous version used and this one does not. `cloud` is "conductor" or
  // "external". A refusal (nothing stored, nothing deployed) carries every issue: export invalid,
  // a board that does not exist or is in another project, a node type the board (or, for
  // "conductor", the cloud runner) does not implement.
  tl::expected<DeployOutcome, DeployRefusal> Deploy(const std::string& project_id, const std::string& name,
                                                    const nlohmann::json& nodes, const std::string& cloud);
  // Stops the flow on every board it has a partition on (offline ones when they return) and
  // forgets it.
  Result<void> Delete(const FlowRecord& flow);
  // Each partition with what its board says now (flow.list) when it is online.
  Result<std::vector<PartitionStatus>> Status(const FlowRecord& flow);

 private:
  // Calls flow.deploy on the partition's board (offline: recorded so) and records the answer;
  // `answered` (may be null) hears it first, on the router's strand.
  void StartDeploy(const PartitionRecord& partition, std::function<void(const DeployAnswer&)> answered);
  void StartStop(const std::string& flow_id, const std::string& board_id);
  void OnBoardRegistered(const std::string& board_id, const std::string& suffix);
  Result<wamp::Payload> Sync(const std::string& board_id, const contract::flow::SyncRequest& request);
  void Invoke(const std::string& board_id, contract::flow::InvokeRequest request, router::BoardGateway::Reply reply);
  void PublishAccess(const std::string& flow_id);

  FlowStore& store_;
  registry::Store& registry_;
  router::BoardGateway& gateway_;
  functions::FunctionsService* functions_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  FlowsOptions options_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::conductor::flows
