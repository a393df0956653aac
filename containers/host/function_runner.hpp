// One installed version of a function: how to run it (argv by runtime, environment, limits),
// how a container's outcome becomes an InvocationResult, and its warm instances. FunctionHost
// decides when an invocation runs; FunctionRunner runs it, blocking the calling worker.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "common/clock/clock.hpp"
#include "common/error/error.hpp"
#include "containers/gpio/gpio_broker.hpp"
#include "containers/host/function_host.hpp"
#include "containers/host/sandbox_pool.hpp"
#include "containers/host/warm_pool.hpp"
#include "containers/package/function_spec.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

// Deepest JSON a function may print: its output travels inside an invocation record, inside a
// WAMP message (127 levels at most) or a REST answer, and is refused beyond this.
constexpr size_t kMaxOutputDepth = 64;

class FunctionRunner {
 public:
  // `impl` is the spec's implementation selected for this host. `runtime` and `clock` must
  // outlive the runner.
  FunctionRunner(std::string key, FunctionSpec spec, Implementation impl, std::filesystem::path code_dir,
                 ContainerRuntime& runtime, const HostConfig& config, const Clock& clock);

  // Runs one invocation (cold, or on a warm instance). `event_line` is compact JSON without
  // newlines. Errors: Unavailable when the runtime fails, Cancelled when `*cancel` became true
  // (its caller gave up, or the host is shutting down): a cold container or a warm instance is
  // killed then (a warm instance not yet written to is kept). The function's own failures are InvocationResults.
  // `callers` says whether `cancel` is the caller's own flag (or only the host's shutdown flag):
  // a warm call watches only a caller's (shutdown reaches it through ContainerProcess::Cancel),
  // so a warm call nobody can cancel is not woken every tick to look.
  Result<InvocationResult> Invoke(const std::string& event_line, const std::atomic<bool>* cancel, bool callers);

  // How many invocations may run at once: max_concurrency, and for warm functions no more
  // than their instances (one caller per instance).
  size_t concurrency_limit() const;
  bool is_warm() const { return spec_.warm.enabled; }
  const FunctionSpec& spec() const { return spec_; }
  const std::filesystem::path& code_dir() const { return code_dir_; }
  size_t warm_instances() const { return pool_ ? pool_->Alive() : 0; }
  size_t ready_sandboxes() const { return sandboxes_ ? sandboxes_->Ready() : 0; }
  // See WarmPool::ReapIdle; a no-op for cold functions.
  std::optional<WarmPool::TimePoint> ReapIdle();
  // Stops the warm instances (WarmPool::Retire) and destroys the ready sandboxes.
  void Retire(bool cancel_running);
  // Whether this version has a sandbox pool that is short of its target (SandboxPool::NeedsFill),
  // and filling it (blocks; a worker thread of the host). Failures are logged here.
  bool NeedsSandboxes() const { return sandboxes_ && sandboxes_->NeedsFill(); }
  void FillSandboxes(const std::atomic<bool>* cancel);
  // At an idle moment: `burst` invocations came within one burst window since the last sizing,
  // and `in_burst` says the window is still open (see SandboxPool::Follow, HostConfig::
  // sandbox_pool). No-op without a pool.
  // `room`: the most this pool may grow to (HostConfig::sandbox_pool_total's share).
  void SizeSandboxes(size_t burst, bool in_burst, size_t room = SIZE_MAX);
  // The pool has fewer ready than its target (false without a pool).
  bool SandboxesShort() const { return sandboxes_ && sandboxes_->Short(); }
  size_t sandbox_target() const { return sandboxes_ ? sandboxes_->target() : 0; }
  bool has_sandbox_pool() const { return sandboxes_ != nullptr; }

  // The container for one invocation in `mode` ("cold" or "warm"), with a fresh id.
  ContainerSpec MakeContainerSpec(const char* mode) const;

 private:
  // For a function that declares GPIO lines: the broker holding them for `invocation`, its
  // socket and the clients added to `container`, which gets the uid leased into `uid` (the
  // only peer the broker serves; keep the lease until the container is gone). Errors: see
  // FunctionHost::Invoke; ResourceExhausted when no uid is free.
  Result<std::unique_ptr<GpioBroker>> OpenGpio(ContainerSpec& container, const std::string& invocation,
                                               UidPool::Lease& uid) const;
  Result<std::unique_ptr<ContainerProcess>> StartWarmInstance();
  Result<InvocationResult> InvokeCold(const std::string& event_line, const std::atomic<bool>* cancel);
  // A warm instance for one call; errors that are not the runtime's failures pass as they are.
  Result<WarmPool::Lease> AcquireWarm();
  Result<InvocationResult> InvokeWarm(const std::string& event_line, const std::atomic<bool>* cancel);
  // Fills status, output and error from stdout text that should be one JSON value.
  void ParseOutput(const std::string& text, InvocationResult& result) const;
  std::string OutputCapText() const;

  std::string key_;
  FunctionSpec spec_;
  Implementation impl_;
  std::filesystem::path code_dir_;
  ContainerRuntime& runtime_;
  HostConfig config_;
  std::unique_ptr<WarmPool> pool_;  // warm functions only
  std::unique_ptr<SandboxPool> sandboxes_;  // cold functions, when HostConfig::sandbox_pool > 0 and the runtime can
};

}  // namespace ew::containers
