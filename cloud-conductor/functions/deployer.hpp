// The deploying half of the conductor's functions: validates and stores uploaded packages (by
// sha256, on disk), carries deployments out on boards through their reverse sessions (and again
// whenever a board registers its fn.* procedures, so an offline board catches up when it
// returns), removes what a returning board should no longer hold, serves ew.conductor.fn.fetch
// and stores the invocations boards report (ew.conductor.fn.report). See docs/FUNCTIONS.md.
//
// Threading: Upload/Delete/FindVersion/Deploy/Undeploy block on the store: call them from the
// blocking pool. Board answers arrive on the router's strand and are stored from the pool.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "cloud-conductor/functions/function_store.hpp"
#include "cloud-conductor/functions/package_store.hpp"
#include "cloud-conductor/functions/stored_record.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "cloud-conductor/router/publication_dedupe.hpp"
#include "common/clock/clock.hpp"
#include "common/contract/fn.hpp"
#include "common/error/error.hpp"

namespace ew::functions {

struct DeployerOptions {
  std::chrono::milliseconds deploy_timeout{120'000};  // fetch + extract + install on a slow board
  size_t invocations_kept = 1000;                     // records kept per function (reports)
  StoredRecordLimits stored_record;                   // output and logs kept per reported record
  uint64_t max_fetch_chunk = 256u << 10;              // fn.fetch length limit
};

class Deployer {
 public:
  // Everything passed by reference outlives the deployer.
  Deployer(FunctionStore& store, router::BoardGateway& gateway, boost::asio::thread_pool& blocking,
           const Clock& clock, PackageStore& packages, DeployerOptions options);

  // Serves ew.conductor.fn.fetch and fn.report, and starts listening for boards that register.
  void Start();

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
                                         const std::optional<FunctionVersion>& version,
                                         const std::vector<gpio::TriggerSpec>& triggers);
  // Forgets the deployment and asks the board to remove the function. A board that is offline
  // (or fails to remove it) loses it when it next connects: see Reconcile.
  Result<void> Undeploy(const FunctionRecord& function, const std::string& board_id);

 private:
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
  const Clock& clock_;
  PackageStore& packages_;
  DeployerOptions options_;
  // Seqs of reported records already stored, per board (bounded; see PublicationDedupe).
  std::mutex report_mu_;
  router::PublicationDedupe report_dedupe_;  // GUARDED_BY(report_mu_)
};

}  // namespace ew::functions
