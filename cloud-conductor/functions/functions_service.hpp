// The conductor's side of serverless functions, as REST and the flows see it: a thin facade over
// the Deployer (packages, deployments, reconcile, fn.fetch, fn.report) and the Invoker
// (invocations on boards and in the cloud runtime), which share the store, the package files and
// the cloud runtime this class owns. See docs/FUNCTIONS.md.
//
// Threading: Upload/Deploy/Delete/Invoke and the accessors block on the store: call them from
// the blocking pool. Invoke's `done` runs on the router's strand or a container worker thread;
// the record is stored right after it.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/functions/cloud_runtime.hpp"
#include "cloud-conductor/functions/deployer.hpp"
#include "cloud-conductor/functions/function_store.hpp"
#include "cloud-conductor/functions/invocation_outcome.hpp"
#include "cloud-conductor/functions/invoker.hpp"
#include "cloud-conductor/functions/package_store.hpp"
#include "cloud-conductor/functions/stored_record.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "common/clock/clock.hpp"
#include "common/contract/fn.hpp"
#include "common/error/error.hpp"
#include "containers/host/function_host.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::functions {

struct FunctionsOptions {
  std::filesystem::path dir;                        // packages/ and cloud/ live here
  std::string cloud_runtime = "auto";               // auto|crun|runc|bwrap|none
  size_t cloud_max_running = 16;
  uint32_t cloud_uid_first = 1'000'000;  // the cloud containers' uid range (as root), see RuntimeConfig
  uint32_t cloud_uid_count = 65'536;
  std::string cloud_cgroups = "auto";    // "off": rlimits only
  size_t cloud_max_per_project = 64;     // runs of one project in the cloud host (running + queued)
  std::chrono::milliseconds deploy_timeout{120'000};  // fetch + extract + install on a slow board
  std::chrono::milliseconds invoke_grace{30'000};   // on top of the function's timeout (queueing)
  size_t invocations_kept = 1000;                   // records kept per function
  StoredRecordLimits stored_record;                 // output and logs kept per stored record
  uint64_t max_fetch_chunk = 256u << 10;            // fn.fetch length limit
  // Placement statistics that changed are written to the registry this often (one transaction),
  // and at destruction; never on an invocation's path.
  std::chrono::milliseconds placement_flush_interval{10'000};
  InvokerOptions invoker;  // placement strategy and its knobs, concurrency limits (its grace,
                           // kept and stored_record fields are taken from the ones above)
  // Makes the cloud runtime; null = containers::MakeContainerRuntime (probes crun, runc, bwrap).
  // Tests put a fake runtime here.
  std::function<Result<std::unique_ptr<containers::ContainerRuntime>>(const containers::RuntimeConfig&)> make_runtime;
};

class FunctionsService {
 public:
  using OutcomeDone = Invoker::OutcomeDone;

  // `timers` runs the invocation deadlines of cloud calls (the conductor's io_context; pending
  // waits must not hold up joining `blocking`).
  FunctionsService(FunctionStore& store, router::BoardGateway& gateway, boost::asio::thread_pool& blocking,
                   boost::asio::any_io_executor timers, const Clock& clock, FunctionsOptions options);
  ~FunctionsService();

  // Creates the directories, serves ew.conductor.fn.fetch, starts listening for boards (their
  // deployments, their concurrency caps), restores the placement statistics the registry kept,
  // starts their periodic flush, and starts probing the cloud runtime in the background (the
  // conductor runs without one).
  Result<void> Start();
  // Writes the placement statistics that changed now (blocking; what the periodic flush and
  // the destructor do). Returns how many functions' were written.
  Result<size_t> FlushPlacementStats() { return invoker_.FlushStats(); }
  // The placement cap and load of a board (Invoker::BoardCap / RunningOn).
  size_t BoardCap(const std::string& board_id) const { return invoker_.BoardCap(board_id); }
  size_t RunningOn(const std::string& board_id) const { return invoker_.RunningOn(board_id); }

  // For the flows service (a flow node names a function); REST goes through the methods below.
  FunctionStore& store() { return store_; }

  // The records REST shows, as FunctionStore returns them (blocking; errors as there).
  Result<FunctionRecord> GetFunction(const std::string& id) { return store_.GetFunction(id); }
  // For flows' edgewire-function nodes: the function of `project_id` with id `id_or_name`, else
  // the one named so; nullopt when there is neither.
  Result<std::optional<FunctionRecord>> FindFunction(const std::string& project_id, const std::string& id_or_name) {
    if (auto byId = store_.GetFunction(id_or_name); byId && byId->project_id == project_id)
      return std::optional<FunctionRecord>(*byId);
    return store_.FindFunction(project_id, id_or_name);
  }
  // Whether the function is deployed (and confirmed) on the board.
  Result<bool> IsDeployedOn(const std::string& function_id, const std::string& board_id) {
    EW_TRY(auto deployment, store_.GetDeployment(function_id, board_id));
    return deployment && deployment->state == contract::DeploymentState::kDeployed;
  }
  Result<Page<FunctionRecord>> ListFunctions(const std::string& project_id, const PageRequest& page) {
    return store_.ListFunctions(project_id, page);
  }
  Result<std::vector<FunctionVersion>> ListVersions(const std::string& function_id) {
    return store_.ListVersions(function_id);
  }
  Result<Page<Deployment>> ListDeployments(const std::string& function_id, const PageRequest& page) {
    return store_.ListDeployments(function_id, page);
  }
  Result<Invocation> GetInvocation(const std::string& function_id, const std::string& id) {
    return store_.GetInvocation(function_id, id);
  }
  Result<Page<InvocationSummary>> ListInvocations(const std::string& function_id, const PageRequest& page,
                                                  const InvocationFilter& filter = {}) {
    return store_.ListInvocations(function_id, page, filter);
  }

  // Inspects the .tar.gz (InvalidArgument naming the problem, ResourceExhausted over a limit),
  // writes it under its sha256 and records the version. Nothing is stored on error.
  Result<FunctionRecord> Upload(const std::string& project_id, std::string_view package) {
    return deployer_.Upload(project_id, package);
  }
  // Removes the function from its boards (best effort), its records and unreferenced packages.
  Result<void> Delete(const FunctionRecord& function) {
    EW_TRY_VOID(deployer_.Delete(function));
    invoker_.Forget(function.id);
    return Ok();
  }

  // The newest version of `function` labelled `label` (function.json "version"). InvalidArgument
  // naming the versions there are when none is.
  Result<FunctionVersion> FindVersion(const FunctionRecord& function, const std::string& label) {
    return deployer_.FindVersion(function, label);
  }

  // Records a deployment of `version` (by default the latest) on each board (pending) and starts
  // it on those online; boards that are offline get it when they return. `triggers` binds the
  // function to GPIO edges on each board.
  Result<std::vector<Deployment>> Deploy(const FunctionRecord& function, const std::vector<std::string>& board_ids,
                                         const std::optional<FunctionVersion>& version = std::nullopt,
                                         const std::vector<gpio::TriggerSpec>& triggers = {}) {
    return deployer_.Deploy(function, board_ids, version, triggers);
  }
  // Forgets the deployment and asks the board to remove the function. A board that is offline
  // (or fails to remove it) loses it when it next connects: see Reconcile.
  Result<void> Undeploy(const FunctionRecord& function, const std::string& board_id) {
    return deployer_.Undeploy(function, board_id);
  }

  // Runs the function where `where` says (auto: placement picks and falls back), see
  // Invoker::Invoke for the errors and what `done` gets.
  Result<std::string> Invoke(const FunctionRecord& function, const Placement& where, nlohmann::json event,
                             const InvokeOptions& options, OutcomeDone done = nullptr) {
    return invoker_.Invoke(function, where, std::move(event), options, std::move(done));
  }
  // The same on `target`: a board id, or "cloud" (forced there, no fallback).
  Result<std::string> Invoke(const FunctionRecord& function, const std::string& target, nlohmann::json event,
                             const InvokeOptions& options, OutcomeDone done = nullptr) {
    return invoker_.Invoke(function, Placement::OfTarget(target), std::move(event), options, std::move(done));
  }
  // Placement statistics of the function, each runtime weighed under `strategy` ("" = default).
  Result<FunctionStats> Stats(const FunctionRecord& function, const std::string& strategy) {
    return invoker_.Stats(function, strategy);
  }
  // For a call refused with ResourceExhausted: when to try again (bounded).
  std::chrono::seconds RetryAfter(const std::string& function_id) { return invoker_.RetryAfter(function_id); }

 private:
  struct StatsFlusher;  // the periodic flush of placement statistics (functions_service.cpp)

  FunctionStore& store_;
  FunctionsOptions options_;
  PackageStore packages_;  // <dir>/packages
  CloudRuntime cloud_;     // <dir>/cloud
  Deployer deployer_;
  Invoker invoker_;
  boost::asio::any_io_executor timers_;
  boost::asio::thread_pool& blocking_;
  bool started_ = false;
  std::shared_ptr<StatsFlusher> flusher_;  // shared with its pending timer and pool handlers
};

}  // namespace ew::functions
