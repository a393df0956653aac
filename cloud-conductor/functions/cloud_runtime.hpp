// The conductor's own containers ("target": "cloud"): the runtime is probed once, in the
// background; a function's package is extracted once per sha256 and installed on first use.
// Thread-safe; Run never blocks its caller (probing, extracting and installing run on the
// blocking pool).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/functions/function_store.hpp"
#include "cloud-conductor/functions/invocation_outcome.hpp"
#include "cloud-conductor/functions/package_store.hpp"
#include "containers/host/function_host.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::functions {

struct CloudRuntimeOptions {
  std::filesystem::path dir;              // containers/ and packages/ (extracted) live here
  std::string runtime = "auto";           // auto|crun|runc|bwrap|none
  // Containers at once, all projects; the host shares them fairly between projects (a freed
  // slot goes to the project with a waiting run that runs the fewest; FunctionHost, "Run slots").
  size_t max_running = 16;
  uint32_t uid_first = 1'000'000;         // the containers' uid range (as root), see RuntimeConfig
  uint32_t uid_count = 65'536;
  std::string cgroups = "auto";           // "off": rlimits only
  // Makes the runtime; null = containers::MakeContainerRuntime. Tests put a fake here.
  std::function<Result<std::unique_ptr<containers::ContainerRuntime>>(const containers::RuntimeConfig&)> make_runtime;
  // Runs of one project in the host at once, running and queued together: past it Run answers
  // ResourceExhausted, so that one project cannot fill the host's shared queue (1024 places) and
  // leave every other project's cloud calls waiting behind its own.
  size_t max_per_project = 64;
};

class CloudRuntime {
 public:
  // `packages`, `blocking` and the executor of `timers` outlive this runtime. Work this runtime
  // posted to `blocking` may still be queued when it is destroyed: it then answers Unavailable
  // without touching the runtime (see Gate).
  CloudRuntime(CloudRuntimeOptions options, const PackageStore& packages, boost::asio::thread_pool& blocking,
               boost::asio::any_io_executor timers);
  ~CloudRuntime();
  // Stops the host: running runs are cancelled, queued ones failed, and it returns once none of
  // their callbacks can run any more, nor any task of this runtime on the blocking pool (those
  // under way are waited for; those that start later answer Unavailable). Idempotent; Run
  // afterwards answers Unavailable. Not from a task of this runtime on the blocking pool.
  void Shutdown();

  // Starts probing the runtime on the blocking pool (unless it is "none").
  void StartProbing();
  // Whether there is a runtime to run functions in (false when disabled or none was found).
  // Blocks until the probe ended: call from the blocking pool.
  bool IsUsable() { return Host().has_value(); }
  // Runs `version` of `function_id` (of `project_id`) with `event`; `done` gets the outcome once,
  // from a worker thread or the timers' executor: the function's record, or OutcomeOfError (no
  // runtime: Unavailable; too many runs of the project: ResourceExhausted; no answer within
  // `wait`: DeadlineExceeded). Past `wait` the run is cancelled: taken out of the host's queue if
  // it has not started, its container killed if it runs. `ended` (may be null) is called once
  // when the run is really over (answered, failed, dropped from the queue or killed), always
  // after `done`: what the invoker holds its concurrency slot until.
  void Run(const std::string& function_id, const std::string& project_id, const FunctionVersion& version,
           nlohmann::json event, std::chrono::milliseconds wait, std::function<void(InvocationOutcome)> done,
           std::function<void()> ended = nullptr);

 private:
  Result<containers::FunctionHost*> Host();
  Result<void> Install(containers::FunctionHost& host, const std::string& function_id, const std::string& project_id,
                       const FunctionVersion& version);
  void Release(const std::string& project_id);  // a run of the project left the host

  CloudRuntimeOptions options_;
  const PackageStore& packages_;
  boost::asio::thread_pool& blocking_;
  boost::asio::any_io_executor timers_;

  std::once_flag once_;
  std::shared_ptr<containers::FunctionHost> host_;  // shared: a firing deadline timer may hold it (Run)
  std::string unavailable_;
  std::mutex mu_;
  std::map<std::string, std::string> installed_;  // GUARDED_BY(mu_): function id → sha256
  std::map<std::string, size_t> per_project_;     // GUARDED_BY(mu_): runs in the host per project

  // Tasks on the blocking pool and the host's answers reach this runtime only through the gate:
  // each enters before it touches the runtime and leaves when done; Shutdown closes it and waits
  // for those inside. A weak liveness token alone is not enough here: it is checked on a pool
  // thread while another thread destroys the runtime (docs/ARCHITECTURE.md, "Lifetime").
  class Gate;
  std::shared_ptr<Gate> gate_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // timers hold a weak_ptr
};

}  // namespace ew::functions
