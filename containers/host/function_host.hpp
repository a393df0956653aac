// FunctionHost runs the functions installed on one host (a board's agent or the conductor's
// cloud runtime): a cold container per invocation, or a warm instance for functions that ask
// for warm mode, within each function's max_concurrency (extra calls wait in a bounded queue).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock/clock.hpp"
#include "common/contract/states.hpp"
#include "common/error/error.hpp"
#include "common/gpio/chip_set.hpp"
#include "containers/gpio/gpio_sandbox.hpp"
#include "containers/package/function_spec.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

struct HostConfig {
  size_t max_running = 64;                 // containers at once on this host, all functions (shared by tenants)
  // Sandboxes kept ready per cold function (SandboxPool; issue 15), where the runtime can
  // prepare them (bwrap with cgroups) and the function declares no GPIO lines (a sandbox made
  // ahead would hold them). Each serves one invocation; 0 turns the pool off. When the function
  // is idle the pool grows to the most of its invocations admitted within one second, and halves
  // after 30 s without growing, within [sandbox_pool, sandbox_pool_max]: a function that comes in
  // bursts finds its next burst prepared, one called now and then keeps sandbox_pool.
  size_t sandbox_pool = 0;
  size_t sandbox_pool_max = 0;  // below sandbox_pool: taken as sandbox_pool (a fixed size)
  // Ready sandboxes of every function together (their pools' targets): a pool grows only into
  // what the others leave, though never below sandbox_pool. 0 = no bound.
  size_t sandbox_pool_total = 0;
  size_t max_queued = 1024;                // waiting invocations beyond that → ResourceExhausted
  // Worker threads that, with nothing left to run, park instead of exiting: a call that finds
  // one parked starts on it without a new thread (~20 µs traced on a 2-vCPU VM: clone, stack,
  // exit); a parked one costs the stack pages it touched. Two cover calls one after another and
  // a caller that overlaps two; a burst's other threads exit as before.
  size_t max_parked_workers = 2;
  // How long a parked worker waits for a call before it exits (on `clock`).
  std::chrono::milliseconds parked_worker_timeout{10'000};
  size_t max_event_bytes = 1u << 20;       // larger event → InvalidArgument
  size_t max_output_bytes = 1u << 20;      // stdout cap (see RunLimits)
  size_t max_log_bytes = 256u << 10;       // stderr cap
  std::string arch;                        // "" = uname -m of this host
  const Clock* clock = nullptr;            // warm idle timeouts and queue times; null = the system clock
  // The board's GPIO chips, for functions that declare lines (each cold invocation and each
  // warm instance gets a GpioBroker); must outlive the host. Null: such functions fail with
  // Unavailable ("this host has no GPIO"), as on the conductor's cloud runtime.
  const gpio::ChipSet* gpio = nullptr;
  // Where brokers make their private socket directories (a tmpfs; created when missing).
  std::filesystem::path gpio_socket_dir = "/run/edgewire/gpio";
  // The GPIO clients, mounted read-only at /opt/edgewire in containers of such functions.
  std::filesystem::path gpio_clients_dir = DefaultGpioClientsDir();
};

struct InvocationResult {
  // The contract's status (common/contract/states.hpp); never kRunning here.
  using Status = contract::InvocationStatus;
  Status status = Status::kFailed;
  nlohmann::json output;        // the function's stdout parsed as JSON (null unless succeeded)
  std::string error;            // why it failed: "exit status 3", "stdout is not JSON", ...
  std::string logs;             // stderr, capped
  int exit_code = -1;
  std::string runtime;          // "crun", "runc", "bwrap"
  bool cold = true;             // false when a warm instance served it
  bool prepared = false;        // a cold start in a sandbox made ahead (the sandbox pool)
  std::chrono::microseconds queue_time{0};  // waiting for a slot
  std::chrono::microseconds run_time{0};    // in the container
};

std::string_view StatusName(InvocationResult::Status status);  // "succeeded", "failed", "timed_out"
// {"status","output","error","logs","exitCode","runtime","cold","prepared","queueMs","runMs"}
// (ms as doubles).
nlohmann::json ToJson(const InvocationResult& result);

struct InstalledFunction {
  std::string key;
  FunctionSpec spec;
  std::filesystem::path code_dir;
  size_t warm_instances = 0;  // alive now
  size_t ready_sandboxes = 0;  // prepared, waiting for an invocation
  size_t running = 0;
  size_t queued = 0;
};

// Thread-safe. Keeps no thread while idle (the board agent's memory budget): workers exist
// while invocations run and, at most HostConfig::max_parked_workers of them, for
// parked_worker_timeout after the last one; warm instances only while their function is used. A cold
// function's sandbox pool is filled by a thread that exits when it is full: after Install, and
// after each burst (when the function has nothing running or queued any more).
//
// Run slots (max_running) are shared fairly between tenants (issue 18 review M3): a freed slot
// goes to the tenant, among those with an invocation that may start now (its function under
// its max_concurrency), that runs the fewest invocations; on a tie, to the one whose last start
// is oldest. Within a tenant, the oldest eligible invocation starts first (FIFO). So a tenant
// that filled every slot before another came gets no new slot until the other holds as many
// (its running calls are never stopped), and tenants with work alternate from then on. With a
// single tenant (every function installed with tenant "", as on a board) this is one FIFO.
class FunctionHost {
 public:
  FunctionHost(HostConfig config, std::unique_ptr<ContainerRuntime> runtime);
  ~FunctionHost();  // stops warm instances; waits for running invocations to be killed

  // Installs (or replaces: running calls finish on the old code, warm instances of the old one
  // are retired) the function `key` whose package is extracted at `code_dir`.
  // InvalidArgument when the spec cannot run on this host (native for another architecture).
  // `tenant`: who the function belongs to (the conductor's cloud runtime: its project), for a
  // fair share of max_running between tenants (see "Run slots" above); a replacement's tenant
  // applies to invocations made after it. A board leaves it "": one tenant, one FIFO.
  Result<void> Install(const std::string& key, const FunctionSpec& spec, const std::filesystem::path& code_dir,
                       const std::string& tenant = "");
  // NotFound when not installed. Queued invocations of it fail with NotFound.
  Result<void> Uninstall(const std::string& key);
  std::vector<InstalledFunction> List() const;

  // Runs one invocation; `done` is called exactly once, from a worker thread (or inline for
  // errors found before queueing): NotFound (not installed), InvalidArgument (event not JSON or
  // too large), ResourceExhausted (queue full), Unavailable (runtime failure). What the function
  // itself did, including timeouts, is an InvocationResult. A function that declares GPIO lines
  // fails before any container starts with Conflict naming the holder of a busy line, NotFound
  // for a line this board lacks, Unavailable when the host has no GPIO. Such a function runs
  // one invocation at a time (its lines have one holder), whatever its maxConcurrency.
  void Invoke(const std::string& key, std::string event_json, std::function<void(Result<InvocationResult>)> done);
  // The same for an event the caller already holds as a value (the conductor's REST body, the
  // board's fn.invoke argument): printed once, compact, for the container's stdin, with no
  // text → value → text round trip; strings that are not UTF-8 (msgpack peers) are replaced.
  // `cancel` (may be null): set it and call DropCancelled, and the invocation ends early with
  // Cancelled (at once when it is already set on this call): taken out of the queue when it has not started, its container (cold, or the warm
  // instance) killed as on a timeout when it runs. `done` still
  // comes exactly once, when it ended: what the conductor holds a concurrency slot until.
  void InvokeEvent(const std::string& key, const nlohmann::json& event,
                   std::function<void(Result<InvocationResult>)> done,
                   std::shared_ptr<std::atomic<bool>> cancel = nullptr);
  // Fails (Cancelled) every queued invocation whose cancel flag is set, now rather than when it
  // would have reached the head of the queue.
  void DropCancelled();

  std::string_view RuntimeName() const;
  // What the runtime enforces of each function's limits on this host (see ContainerRuntime).
  LimitSupport RuntimeLimits() const;
  // Workers parked now, waiting for a call (HostConfig::max_parked_workers).
  size_t ParkedWorkers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ew::containers
