// The conductor's side of serverless functions: validates and stores uploaded packages (by
// sha256, on disk), carries deployments out on boards through their reverse sessions (and again
// whenever a board registers its fn.* procedures, so an offline board catches up when it
// returns), serves ew.conductor.fn.fetch to boards, and runs invocations on a board or in the
// cloud runtime (containers on the conductor's host). See docs/FUNCTIONS.md.
//
// Threading: Upload/Deploy/Delete/Invoke* and the accessors block on the store: call them from
// the blocking pool. Callbacks (`done`) run on the router's strand or a container worker thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/functions/function_store.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"
#include "containers/host/function_host.hpp"

namespace ew::functions {

struct FunctionsOptions {
  std::filesystem::path dir;                        // packages/ and cloud/ live here
  std::string cloud_runtime = "auto";               // auto|crun|runc|bwrap|none
  size_t cloud_max_running = 16;
  std::chrono::milliseconds deploy_timeout{120'000};  // fetch + extract + install on a slow board
  std::chrono::milliseconds invoke_grace{30'000};   // on top of the function's timeout (queueing)
  size_t invocations_kept = 1000;                   // records kept per function
  uint64_t max_fetch_chunk = 256u << 10;            // fn.fetch length limit
};

class FunctionsService {
 public:
  using RecordDone = std::function<void(Result<nlohmann::json>)>;

  FunctionsService(FunctionStore& store, router::BoardGateway& gateway, boost::asio::thread_pool& blocking,
                   const Clock& clock, FunctionsOptions options);
  ~FunctionsService();

  // Creates the directories, serves ew.conductor.fn.fetch and starts listening for boards.
  Result<void> Start();

  FunctionStore& store() { return store_; }

  // Inspects the .tar.gz (InvalidArgument naming the problem, ResourceExhausted over a limit),
  // writes it under its sha256 and records the version. Nothing is stored on error.
  Result<FunctionRecord> Upload(const std::string& project_id, std::string_view package);
  // Removes the function from its boards (best effort), its records and unreferenced packages.
  Result<void> Delete(const FunctionRecord& function);

  // Records a deployment of the latest version on each board (pending) and starts it on those
  // online; boards that are offline get it when they return.
  Result<std::vector<Deployment>> Deploy(const FunctionRecord& function, const std::vector<std::string>& board_ids);
  // Forgets the deployment and asks the board to remove the function (when it is online).
  Result<void> Undeploy(const FunctionRecord& function, const std::string& board_id);

  // Runs the function on `target` (a board id, or "cloud") with `event`. `done` gets the
  // invocation record (docs/FUNCTIONS.md) whatever the function did, or an error when it could
  // not run: InvalidArgument (cloud for a boardOnly function, or board for a cloudOnly one),
  // Conflict (not deployed there), Unavailable (board offline, no cloud runtime). The record is
  // stored after `done` is called.
  void Invoke(const FunctionRecord& function, const std::string& target, nlohmann::json event, RecordDone done);
  // Same checks, then runs in the background: returns the invocation id at once; the record
  // says "running" until it ends.
  Result<std::string> InvokeAsync(const FunctionRecord& function, const std::string& target, nlohmann::json event);

 private:
  struct Prepared {
    std::string id;
    std::string target;
    int64_t created_at = 0;
  };
  Result<Prepared> Prepare(const FunctionRecord& function, const std::string& target);
  void Run(const FunctionRecord& function, const Prepared& prepared, nlohmann::json event, RecordDone done);
  void RunInCloud(const FunctionRecord& function, nlohmann::json event, RecordDone done);
  void Store(const FunctionRecord& function, const Prepared& prepared, const nlohmann::json& record);

  void StartDeploy(const Deployment& deployment);
  void OnBoardRegistered(const std::string& board_id, const std::string& suffix);
  void Fetch(const std::string& board_id, nlohmann::json kwargs, router::BoardGateway::Reply reply);

  std::filesystem::path PackagePath(const std::string& sha256) const;
  Result<containers::FunctionHost*> CloudHost();

  FunctionStore& store_;
  router::BoardGateway& gateway_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  FunctionsOptions options_;

  // The cloud runtime, created on first use (probing runtimes takes a moment).
  std::once_flag cloud_once_;
  std::unique_ptr<containers::FunctionHost> cloud_;
  std::string cloud_unavailable_;
  std::mutex cloud_mu_;
  std::map<std::string, std::string> cloud_installed_;  // GUARDED_BY(cloud_mu_): function id → sha256
};

}  // namespace ew::functions
