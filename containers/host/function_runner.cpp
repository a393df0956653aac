#include "containers/host/function_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"
#include "containers/runtime/sandbox_layout.hpp"

namespace ew::containers {

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

const ew::log::Logger Log{"containers"};

// Container ids: unique in this process (counter) and among processes (pid).
std::string NextContainerId(const std::string& name) {
  static std::atomic<uint64_t> counter{0};
  return name.substr(0, 40) + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
}

// The <invocation> of a GPIO consumer "fn:<function>:<invocation>": "inv-N" for a cold
// invocation, "warm-N" for a warm instance. One counter for the process, so that no two holders
// share a consumer (releasing one must not release the other's lines).
std::string NextGpioInvocation(const char* kind) {
  static std::atomic<uint64_t> counter{0};
  return std::string(kind) + "-" + std::to_string(++counter);
}

// A warm instance of a function with GPIO lines, and the broker serving them for as long as
// the instance lives.
class GpioInstance final : public ContainerProcess {
 public:
  GpioInstance(std::unique_ptr<ContainerProcess> process, std::unique_ptr<GpioBroker> broker, UidPool::Lease uid)
      : process_(std::move(process)), broker_(std::move(broker)), uid_(std::move(uid)) {}
  ~GpioInstance() override {
    process_.reset();  // the container is gone before its lines are released and its uid reused
    broker_.reset();
    uid_ = UidPool::Lease();
  }
  Result<std::string> Exchange(std::string_view line, std::chrono::milliseconds timeout, size_t max_bytes,
                               const std::atomic<bool>* cancel) override {
    return process_->Exchange(line, timeout, max_bytes, cancel);
  }
  std::string TakeLogs() override { return process_->TakeLogs(); }
  bool IsAlive() override { return process_->IsAlive(); }
  void Cancel() override { process_->Cancel(); }

 private:
  std::unique_ptr<ContainerProcess> process_;
  std::unique_ptr<GpioBroker> broker_;
  UidPool::Lease uid_;
};

std::string SizeText(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

std::string TimeoutText(std::chrono::milliseconds timeout) {
  return "timed out after " + std::to_string(timeout.count()) + " ms";
}

}  // namespace

FunctionRunner::FunctionRunner(std::string key, FunctionSpec spec, Implementation impl, std::filesystem::path code_dir,
                               ContainerRuntime& runtime, const HostConfig& config, const Clock& clock)
    : key_(std::move(key)),
      spec_(std::move(spec)),
      impl_(std::move(impl)),
      code_dir_(std::move(code_dir)),
      runtime_(runtime),
      config_(config) {
  if (spec_.warm.enabled) {
    pool_ = std::make_unique<WarmPool>(
        std::max<uint32_t>(1, spec_.warm.max_instances), spec_.warm.idle_timeout,
        [this]() { return StartWarmInstance(); }, clock);
  } else if (config_.sandbox_pool > 0 && spec_.gpio.empty() && runtime_.CanPrepare()) {
    // Each sandbox is made with the spec of a cold invocation (a fresh container id each).
    sandboxes_ = std::make_unique<SandboxPool>(
        config_.sandbox_pool, [this]() { return runtime_.Prepare(MakeContainerSpec("cold")); }, clock);
  }
}

void FunctionRunner::SizeSandboxes(size_t burst, bool in_burst, size_t room) {
  if (!sandboxes_) return;
  sandboxes_->Follow(burst, in_burst, config_.sandbox_pool,
                     std::min(std::max(config_.sandbox_pool_max, config_.sandbox_pool), room));
}

void FunctionRunner::FillSandboxes(const std::atomic<bool>* cancel) {
  if (!sandboxes_) return;
  if (auto filled = sandboxes_->Fill(cancel); !filled) {
    Log()->warn("function {}: cannot prepare sandboxes ahead ({}); cold invocations start their own for {} s", key_,
                filled.error().message, SandboxPool::kRetryAfterFailure.count());
  }
}

size_t FunctionRunner::concurrency_limit() const {
  // A line has one holder: a second invocation at once would only find its lines busy.
  if (!spec_.gpio.empty()) return 1;
  size_t limit = std::max<uint32_t>(1, spec_.max_concurrency);
  if (spec_.warm.enabled) limit = std::min<size_t>(limit, std::max<uint32_t>(1, spec_.warm.max_instances));
  return limit;
}

ContainerSpec FunctionRunner::MakeContainerSpec(const char* mode) const {
  ContainerSpec c;
  c.id = NextContainerId(spec_.name);
  c.code_dir = code_dir_;
  std::string entry = std::string(sandbox::kCodeMount) + "/" + impl_.entrypoint;
  switch (impl_.runtime) {
    case Runtime::kSh: c.argv = {"/bin/sh", entry}; break;
    case Runtime::kPython3: c.argv = {"/usr/bin/python3", entry}; break;
    case Runtime::kNative: c.argv = {entry}; break;
  }
  c.env = {"EW_FUNCTION=" + spec_.name, "EW_VERSION=" + spec_.version, std::string("EW_MODE=") + mode};
  if (impl_.runtime == Runtime::kPython3) {
    // Warm functions answer line by line: Python must not hold them in a pipe buffer. /fn is
    // read-only, so do not try to write bytecode there.
    c.env.push_back("PYTHONUNBUFFERED=1");
    c.env.push_back("PYTHONDONTWRITEBYTECODE=1");
  }
  c.memory_bytes = spec_.memory_bytes;
  c.network = spec_.network;
  return c;
}

std::string FunctionRunner::OutputCapText() const { return "output over " + SizeText(config_.max_output_bytes); }

void FunctionRunner::ParseOutput(const std::string& text, InvocationResult& result) const {
  // The function is untrusted: its stdout goes through the guarded parser (depth and size).
  ew::json::ParseLimits limits;
  limits.max_bytes = config_.max_output_bytes;
  limits.max_depth = kMaxOutputDepth;
  limits.what = "stdout";
  auto output = ew::json::Parse(text, limits);
  if (!output) {
    result.status = InvocationResult::Status::kFailed;
    result.error = output.error().message.rfind("stdout: invalid JSON", 0) == 0 ? "stdout is not JSON"
                                                                                : output.error().message;
    return;
  }
  result.status = InvocationResult::Status::kSucceeded;
  result.output = std::move(*output);
}

Result<InvocationResult> FunctionRunner::Invoke(const std::string& event_line, const std::atomic<bool>* cancel,
                                                bool callers) {
  if (!spec_.gpio.empty() && !config_.gpio) {
    return Unavailable("function " + spec_.name + " declares GPIO lines, but this host has no GPIO");
  }
  if (pool_) return InvokeWarm(event_line, callers ? cancel : nullptr);
  return InvokeCold(event_line, cancel);
}

Result<std::unique_ptr<GpioBroker>> FunctionRunner::OpenGpio(ContainerSpec& container, const std::string& invocation,
                                                             UidPool::Lease& uid) const {
  if (!config_.gpio) return Unavailable("function " + spec_.name + " declares GPIO lines, but this host has no GPIO");
  EW_TRY(uid, runtime_.LeaseUid());
  container.uid = uid.uid();
  EW_TRY(auto broker,
         GpioBroker::Open(*config_.gpio, spec_.gpio, spec_.name, invocation, config_.gpio_socket_dir, uid.uid()));
  EW_TRY_VOID(AddGpioToContainer(container, *broker, config_.gpio_clients_dir));
  return broker;
}

Result<std::unique_ptr<ContainerProcess>> FunctionRunner::StartWarmInstance() {
  ContainerSpec container = MakeContainerSpec("warm");
  if (spec_.gpio.empty()) return runtime_.Start(container);
  UidPool::Lease uid;
  EW_TRY(auto broker, OpenGpio(container, NextGpioInvocation("warm"), uid));
  EW_TRY(auto process, runtime_.Start(container));
  return std::unique_ptr<ContainerProcess>(new GpioInstance(std::move(process), std::move(broker), std::move(uid)));
}

Result<InvocationResult> FunctionRunner::InvokeCold(const std::string& event_line, const std::atomic<bool>* cancel) {
  RunLimits limits;
  limits.timeout = spec_.timeout;
  limits.max_stdout_bytes = config_.max_output_bytes;
  limits.max_stderr_bytes = config_.max_log_bytes;
  limits.cancel = cancel;
  ContainerSpec container = MakeContainerSpec("cold");
  // Held from before the container starts until after it is gone.
  UidPool::Lease uid;
  std::unique_ptr<GpioBroker> gpio;
  if (!spec_.gpio.empty()) {
    EW_TRY(gpio, OpenGpio(container, NextGpioInvocation("inv"), uid));
  }
  bool prepared = false;
  Result<RunOutput> out = Unavailable("not run");
  if (auto sandbox = sandboxes_ ? sandboxes_->Take() : nullptr) {
    out = runtime_.RunPrepared(std::move(sandbox), event_line, limits);
    prepared = static_cast<bool>(out);
    // A sandbox that died while it waited is not this invocation's failure: start one now.
    if (!out) Log()->debug("function {}: prepared sandbox unusable ({}); starting one", key_, out.error().message);
  }
  if (!prepared) out = runtime_.Run(container, event_line, limits);
  gpio.reset();
  uid = UidPool::Lease();
  if (!out) return Unavailable(std::string(runtime_.Name()) + ": " + out.error().message);
  if (cancel && cancel->load()) return MakeError(ErrorCode::kCancelled, "cancelled (killed)");

  InvocationResult result;
  result.runtime = std::string(runtime_.Name());
  result.cold = true;
  result.prepared = prepared;
  result.run_time = out->wall;
  result.exit_code = out->exit_code;
  result.logs = std::move(out->stderr_data);
  if (out->stderr_truncated) result.logs += "\n[logs truncated]\n";
  if (out->timed_out) {
    result.status = InvocationResult::Status::kTimedOut;
    result.error = TimeoutText(spec_.timeout);
  } else if (out->stdout_truncated) {
    result.error = OutputCapText();
  } else if (out->exit_code != 0) {
    result.error = "exit status " + std::to_string(out->exit_code);
  } else {
    ParseOutput(out->stdout_data, result);
  }
  return result;
}

Result<WarmPool::Lease> FunctionRunner::AcquireWarm() {
  auto lease = pool_->Acquire();
  if (lease) return lease;
  // Cancelled, and the GPIO broker's busy or unknown line, are not the runtime's failures.
  const ErrorCode code = lease.error().code;
  if (code == ErrorCode::kCancelled || code == ErrorCode::kConflict || code == ErrorCode::kNotFound) {
    return tl::unexpected(lease.error());
  }
  return Unavailable(std::string(runtime_.Name()) + ": cannot start a warm instance: " + lease.error().message);
}

Result<InvocationResult> FunctionRunner::InvokeWarm(const std::string& event_line, const std::atomic<bool>* cancel) {
  EW_TRY(auto lease, AcquireWarm());
  auto started = std::chrono::steady_clock::now();
  auto answer = lease.process->Exchange(event_line, spec_.timeout, config_.max_output_bytes, cancel);
  if (!answer && answer.error().code == ErrorCode::kConflict) {
    // Out of step before the request reached it (nothing written): not this call's failure. The
    // instance goes, and the call goes to another, once.
    Log()->warn("function {}: {}; the call goes to another instance", key_, answer.error().message);
    pool_->Release(std::move(lease.process), false);
    EW_TRY(lease, AcquireWarm());
    started = std::chrono::steady_clock::now();
    answer = lease.process->Exchange(event_line, spec_.timeout, config_.max_output_bytes, cancel);
  }
  InvocationResult result;
  result.runtime = std::string(runtime_.Name());
  result.cold = lease.fresh;
  result.run_time = duration_cast<microseconds>(std::chrono::steady_clock::now() - started);
  result.logs = lease.process->TakeLogs();
  if (result.logs.size() > config_.max_log_bytes) {
    result.logs.resize(config_.max_log_bytes);
    result.logs += "\n[logs truncated]\n";
  }
  bool healthy = answer.has_value();
  if (answer) {
    result.exit_code = 0;
    ParseOutput(*answer, result);
  } else {
    switch (answer.error().code) {
      case ErrorCode::kDeadlineExceeded:
        result.status = InvocationResult::Status::kTimedOut;
        result.error = TimeoutText(spec_.timeout);
        break;
      case ErrorCode::kResourceExhausted:
        result.error = OutputCapText();
        break;
      case ErrorCode::kCancelled: {
        // The caller's flag (its deadline; shutdown sets it too), or Cancel() (shutdown). An
        // instance the line never reached lives on and goes back to the pool.
        const bool alive = lease.process->IsAlive();
        pool_->Release(std::move(lease.process), alive);
        if (cancel && cancel->load()) return MakeError(ErrorCode::kCancelled, alive ? "cancelled" : "cancelled (killed)");
        return MakeError(ErrorCode::kCancelled, "function host shutting down");
      }
      default:  // the instance exited (crashed, or never started), or is out of step
        result.error = answer.error().message;
        break;
    }
  }
  pool_->Release(std::move(lease.process), healthy);
  return result;
}

std::optional<WarmPool::TimePoint> FunctionRunner::ReapIdle() {
  if (!pool_) return std::nullopt;
  return pool_->ReapIdle();
}

void FunctionRunner::Retire(bool cancel_running) {
  if (pool_) pool_->Retire(cancel_running);
  if (sandboxes_) sandboxes_->Retire();
}

}  // namespace ew::containers
