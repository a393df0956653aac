// The conductor's side of serverless functions: validates and stores uploaded packages (by
// sha256, on disk), carries deployments out on boards through their reverse sessions (and again
// whenever a board registers its fn.* procedures, so an offline board catches up when it
// returns), serves ew.conductor.fn.fetch to boards, and runs invocations on a board or in the
// cloud runtime (containers on the conductor's host). See docs/FUNCTIONS.md.
//
// Threading: Upload/Deploy/Delete/Invoke and the accessors block on the store: call them from
// the blocking pool. Invoke's `done` runs on the router's strand or a container worker thread;
// the record is stored right after it.
#pragma once

#include <atomic>
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
#include "cloud-conductor/functions/function_store.hpp"
#include "cloud-conductor/functions/invocation_outcome.hpp"
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
  std::chrono::milliseconds deploy_timeout{120'000};  // fetch + extract + install on a slow board
  std::chrono::milliseconds invoke_grace{30'000};   // on top of the function's timeout (queueing)
  size_t invocations_kept = 1000;                   // records kept per function
  StoredRecordLimits stored_record;                 // output and logs kept per stored record
  uint64_t max_fetch_chunk = 256u << 10;            // fn.fetch length limit
  // Makes the cloud runtime; null = containers::MakeContainerRuntime (probes crun, runc, bwrap).
  // Tests put a fake runtime here.
  std::function<Result<std::unique_ptr<containers::ContainerRuntime>>(const containers::RuntimeConfig&)> make_runtime;
};

struct InvokeOptions {
  bool async = false;
  // How long the caller waits for the answer; nullopt = the function's timeoutMs + invoke_grace.
  // Past it the record says timed_out; the function may still finish where it runs, and that
  // late result is dropped.
  std::optional<std::chrono::milliseconds> wait;
};

class FunctionsService {
 public:
  using OutcomeDone = std::function<void(InvocationOutcome)>;

  // `timers` runs the invocation deadlines of cloud calls (the conductor's io_context; pending
  // waits must not hold up joining `blocking`).
  FunctionsService(FunctionStore& store, router::BoardGateway& gateway, boost::asio::thread_pool& blocking,
                   boost::asio::any_io_executor timers, const Clock& clock, FunctionsOptions options);
  ~FunctionsService();

  // Creates the directories, serves ew.conductor.fn.fetch, starts listening for boards and
  // starts probing the cloud runtime in the background (the conductor runs without one).
  Result<void> Start();

  // Fleets only (REST's fleets resource): they move to the registry, and this goes with them.
  FunctionStore& store() { return store_; }

  // The records REST shows, as FunctionStore returns them (blocking; errors as there).
  Result<FunctionRecord> GetFunction(const std::string& id) { return store_.GetFunction(id); }
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
  Result<Page<InvocationSummary>> ListInvocations(const std::string& function_id, const PageRequest& page) {
    return store_.ListInvocations(function_id, page);
  }

  // Inspects the .tar.gz (InvalidArgument naming the problem, ResourceExhausted over a limit),
  // writes it under its sha256 and records the version. Nothing is stored on error.
  Result<FunctionRecord> Upload(const std::string& project_id, std::string_view package);
  // Removes the function from its boards (best effort), its records and unreferenced packages.
  Result<void> Delete(const FunctionRecord& function);

  // The newest version of `function` labelled `label` (function.json "version"). InvalidArgument
  // naming the versions there are when none is.
  Result<FunctionVersion> FindVersion(const FunctionRecord& function, const std::string& label);

  // Records a deployment of `version` (by default the latest) on each board (pending) and starts
  // it on those online; boards that are offline get it when they return. `triggers` binds the
  // function to GPIO edges on each board.
  Result<std::vector<Deployment>> Deploy(const FunctionRecord& function, const std::vector<std::string>& board_ids,
                                         const std::optional<FunctionVersion>& version = std::nullopt,
                                         const std::vector<gpio::TriggerSpec>& triggers = {});
  // Forgets the deployment and asks the board to remove the function. A board that is offline
  // (or fails to remove it) loses it when it next connects: see Reconcile.
  Result<void> Undeploy(const FunctionRecord& function, const std::string& board_id);

  // Runs the function on `target` (a board id, or "cloud") with `event`, and returns the new
  // invocation's id. Errors before anything runs (nothing stored): InvalidArgument (cloud for a
  // boardOnly function, or a board for a cloudOnly one), Conflict (not deployed on that board,
  // or its deployment failed or is pending), Unavailable (board offline). Once it started, the
  // record is stored when it ends (with status "running" until then when `options.async`), and
  // `done` (may be null) gets the outcome; no cloud runtime is an Unavailable outcome.
  // No silent loss: an asynchronous invocation starts only once its "running" record is stored,
  // else Unavailable "store unavailable: <why>" (REST 503). After a record failed to store, every
  // invocation (synchronous too) first stores its "running" record until one succeeds, so a
  // failing store answers 503 instead of 200s whose records vanish. The one window left: a store
  // failing while a synchronous call runs loses that record from history (the caller has it in the
  // answer; the failure is logged at error).
  Result<std::string> Invoke(const FunctionRecord& function, const std::string& target, nlohmann::json event,
                             const InvokeOptions& options, OutcomeDone done = nullptr);

 private:
  struct Prepared {
    std::string id;
    std::string target;
    FunctionVersion version;  // what runs: the board's deployed version, or the latest in the cloud
    std::chrono::milliseconds wait{0};
    int64_t created_at = 0;
  };
  Result<Prepared> Prepare(const FunctionRecord& function, const std::string& target, const InvokeOptions& options);
  void RunOnBoard(const FunctionRecord& function, const Prepared& prepared, nlohmann::json event, OutcomeDone done);
  void RunInCloud(const FunctionRecord& function, const Prepared& prepared, nlohmann::json event, OutcomeDone done);
  // Stores the invocation record; remembers in records_failing_ whether it failed.
  Result<void> Store(const FunctionRecord& function, const Prepared& prepared, const nlohmann::json& record);

  void StartDeploy(const Deployment& deployment);
  // ew.conductor.fn.report: records of invocations `board_id` ran by itself (edge triggers),
  // stored in the function's history. Only for functions deployed on that board. Blocking pool.
  Result<uint64_t> Report(const std::string& board_id, const contract::fn::ReportRequest& request);
  void OnBoardRegistered(const std::string& board_id, const std::string& suffix);
  // Asks a board that just returned which functions it holds and removes those it should no
  // longer run (undeployed or deleted while it was away, or whose removal failed).
  void Reconcile(const std::string& board_id);
  void Fetch(const std::string& board_id, const contract::fn::FetchRequest& request, router::BoardGateway::Reply reply);


  FunctionStore& store_;
  router::BoardGateway& gateway_;
  boost::asio::thread_pool& blocking_;
  boost::asio::any_io_executor timers_;
  const Clock& clock_;
  FunctionsOptions options_;
  PackageStore packages_;  // <dir>/packages
  CloudRuntime cloud_;     // <dir>/cloud
  // The last invocation record could not be stored (written from the pool, read by Invoke).
  std::atomic<bool> records_failing_{false};
};

}  // namespace ew::functions
