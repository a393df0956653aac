// The board's function procedures ew.board.<id>.fn.{deploy,remove,list,invoke}: gets packages
// from the PackageFetcher (the cache under the agent's state directory), installs them into a
// FunctionHost (containers/) and runs invocations there; the DeploymentBook keeps what is
// deployed and the TriggerReporter the outcomes of GPIO-triggered invocations.
// Deployments survive restarts (deployments.json). See docs/FUNCTIONS.md for the contract.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/contract/fn.hpp"
#include "common/error/error.hpp"
#include "common/wamp/limits.hpp"
#include "containers/host/function_host.hpp"
#include "device-agent/functions/deployment_book.hpp"
#include "device-agent/functions/package_fetcher.hpp"
#include "device-agent/functions/trigger_reporter.hpp"
#include "device-agent/gpio/gpio_service.hpp"
#include "device-agent/rpc/conductor_client.hpp"
#include "device-agent/rpc/procedure.hpp"
#include "device-agent/session/session_observer.hpp"

namespace ew::agent::functions {

struct FunctionServiceOptions {
  std::string board_id;
  // Cache and records: <state_dir>/packages/<sha256>/ (extracted), <state_dir>/deployments.json.
  std::filesystem::path state_dir = "/var/lib/edgewire/functions";
  size_t fetch_chunk_bytes = 256u << 10;             // per ew.conductor.fn.fetch call (its maximum)
  uint64_t max_package_bytes = 16ull << 20;          // as the conductor's upload limit
  std::chrono::milliseconds fetch_timeout{30'000};   // per chunk
  // Outcomes of trigger invocations go to the conductor (ew.conductor.fn.report) through the
  // spool stream "fn.report" (TriggerReporter), this many per call.
  size_t reports_per_call = 50;
  // What one WAMP message to the conductor may carry (the router's max_message_bytes). An
  // invocation's output and logs may together be larger: replies and reports are trimmed to fit
  // (logs first), and an output that cannot fit fails its own invocation.
  size_t max_message_bytes = 1u << 20;
};

// Trims an invocation record (containers::ToJson) so that its msgpack encoding fits `budget`
// bytes: the logs are cut first (a marker says so); if the output alone is too large the record
// becomes a failure that says why. Returns the encoded size.
size_t FitRecord(nlohmann::json& record, size_t budget);

// One deployed function as the board records it: the contract's (common/contract/fn.hpp).
using Deployment = contract::fn::DeployedFunction;

class FunctionService : public session::SessionObserver {
 public:
  // `host` may be null when no container runtime works on this board: then fn.deploy and
  // fn.invoke answer Unavailable with `unavailable_reason`, and fn.list answers empty.
  FunctionService(boost::asio::io_context& io, FunctionServiceOptions options,
                  std::unique_ptr<containers::FunctionHost> host, std::string unavailable_reason = "");
  ~FunctionService();

  // The session that reaches the conductor; must be set before the first fn.deploy and
  // outlive this service. Io thread.
  void SetConductor(rpc::ConductorClient* conductor) {
    conductor_ = conductor;
    fetcher_->SetConductor(conductor);
    if (reporter_) reporter_->SetConductor(conductor);
  }
  // Where trigger outcomes wait for the conductor; must outlive this service. Without one they
  // are only logged. Before Restore(). Io thread.
  void SetSpool(spool::AsyncSpool* spool);
  // The board's GPIO, for edge triggers; null = triggers are refused. Before Restore(); must
  // outlive this service. Io thread.
  void SetGpio(gpio::GpioService* gpio) { gpio_ = gpio; }

  // Reinstalls the deployments recorded in deployments.json whose packages are in the cache;
  // drops (and logs) the others, which the conductor delivers again. Call once, before the
  // session starts. Internal when the state directory cannot be created; the error of
  // posix::WriteFileAtomically when deployments.json cannot be rewritten.
  Result<void> Restore();

  // fn.deploy, fn.remove, fn.list, fn.invoke.
  rpc::ProcedureTable Procedures();

  // "runc", "bwrap", ... or "none (<reason>)", for sys.info.
  std::string RuntimeDescription() const;
  // How the runtime enforces function limits here ({"memory": "cgroup v1", ..., "cpu": ""}),
  // for sys.info; null without a runtime.
  nlohmann::json RuntimeLimits() const;
  // What fn.deploy replies carry as "warnings": one line naming the limits the runtime cannot
  // enforce on this board; empty when it enforces them all.
  std::vector<std::string> LimitWarnings() const;

  std::vector<Deployment> Deployments() const;

  // A session is up: trigger outcomes recorded while the conductor was away go to it.
  void OnReady(const std::string& url, uint64_t session_id) override {
    if (reporter_) reporter_->Flush();
  }
  // Trigger outcomes stored and not yet recorded by the conductor.
  uint64_t PendingReports() const { return reporter_ ? reporter_->Pending() : 0; }

 private:
  using Done = std::function<void(Result<Deployment>)>;

  // Encoded bytes one invocation record may take in a reply (fn.invoke) or, with the batch
  // around it, in a report (ew.conductor.fn.report).
  size_t ReplyBudget() const { return options_.max_message_bytes - wamp::kEnvelopeBytes; }
  size_t ReportBudget() const { return options_.max_message_bytes - 2 * wamp::kEnvelopeBytes; }

  void Deploy(const rpc::Request& invocation, rpc::Responder respond);
  void Remove(const rpc::Request& invocation, rpc::Responder respond);
  Result<rpc::Reply> List() const;
  void Invoke(const rpc::Request& invocation, rpc::Responder respond);

  // Installs the package at `dir` on the blocking pool, then records the deployment and its
  // triggers on the io thread.
  void Install(Deployment wanted, std::filesystem::path dir, bool cached, rpc::Responder respond);
  // Io thread: binds (or clears) the deployment's triggers, records it, answers.
  void Commit(Deployment wanted, bool cached, rpc::Responder respond);
  // Holds the trigger lines of `d` and invokes it on their edges. Io thread.
  Result<void> BindTriggers(const Deployment& d);
  // Hands a trigger invocation's record to the reporter. Io thread.
  void QueueReport(const std::string& function_id, nlohmann::json record);
  // Writes the current deployments to deployments.json (book_) on the blocking pool, never on the
  // io thread; a failure is logged as "<what> but not recorded: <error>"; then runs `then` there
  // (deploy and remove answer only once the change is on disk). With mu_ held.
  void PersistLater(std::string what, std::function<void()> then = nullptr) const;
  boost::asio::thread_pool& Blocking();

  boost::asio::io_context& io_;
  FunctionServiceOptions options_;
  DeploymentBook book_;  // deployments.json
  std::unique_ptr<containers::FunctionHost> host_;
  std::string unavailable_reason_;
  rpc::ConductorClient* conductor_ = nullptr;
  gpio::GpioService* gpio_ = nullptr;

  // Created on first use: an agent without functions runs no extra thread.
  std::unique_ptr<boost::asio::thread_pool> blocking_;
  std::once_flag blocking_once_;

  // Trigger outcomes on their way to the conductor (io thread only); null without a spool.
  std::unique_ptr<TriggerReporter> reporter_;

  // The package cache under <state_dir>/packages.
  std::unique_ptr<PackageFetcher> fetcher_;

  mutable std::mutex mu_;
  std::map<std::string, Deployment> deployments_;  // GUARDED_BY(mu_), by function id

  // Liveness token (docs/ARCHITECTURE.md, "Lifetime"): reset first in the destructor; io-thread
  // handlers check it. Pool work uses raw `this`: the destructor joins the pool next.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::agent::functions
