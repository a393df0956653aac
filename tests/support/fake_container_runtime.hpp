// A ContainerRuntime for tests above the runtime (FunctionHost, the agent's FunctionService):
// records every ContainerSpec, answers from a script, and can hold runs until the test releases
// them (to observe queueing). Warm instances
// are FakeProcesses with an id, answering from a script too. The test keeps the shared state;
// the host owns the runtime.
#pragma once

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "containers/runtime/container_runtime.hpp"

namespace ew::containers::testing {

struct FakeRuntimeState {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<ContainerSpec> runs;    // specs of Run calls, in call order
  std::vector<ContainerSpec> starts;  // specs of Start calls
  std::vector<std::string> inputs;    // stdin of Run calls / lines of Exchange calls
  int running = 0;                    // Run calls in progress
  int max_running = 0;
  int held = 0;                       // Run calls waiting for Release
  bool hold = false;                  // when true, Run waits until released (or cancelled)
  int releases = 0;                   // how many held runs may proceed
  int alive_processes = 0;
  int cancelled = 0;  // FakeProcess::Cancel calls
  // The caller's flag of the last Exchange (valid while that call runs: for on_exchange).
  const std::atomic<bool>* exchange_cancel = nullptr;
  int next_process_id = 0;

  // What Run returns; default: exit 0 with the input echoed as {"echo": <input>}.
  std::function<Result<RunOutput>(const ContainerSpec&, const std::string&)> on_run;
  // What a warm instance answers; default: {"instance": id, "echo": <line>}. Returning
  // Unavailable marks the process dead (a crash).
  std::function<Result<std::string>(int instance, const std::string& line)> on_exchange;
  std::function<Result<void>()> on_start;  // default: succeed
  // What Limits() reports; default: everything enforced ("fake").
  LimitSupport limits{"fake", "fake", "fake", "fake"};

  // Prepared sandboxes (the sandbox pool): off unless `can_prepare` (turned off later, RunPrepared
  // fails as for a sandbox that died while it waited). Prepare records the spec
  // in `prepared`; RunPrepared records the sandbox's container id in `prepared_runs` (then runs
  // as Run does, same script); an unused sandbox's destruction counts in `discarded`.
  bool can_prepare = false;
  std::function<Result<void>()> on_prepare;  // default: succeed
  std::vector<ContainerSpec> prepared;
  std::vector<std::string> prepared_runs;
  int alive_sandboxes = 0;
  int discarded = 0;

  void Release(int n = 1) {
    std::lock_guard<std::mutex> lock(mutex);
    releases += n;
    changed.notify_all();
  }
  // Waits (bounded) until `pred` holds under the lock.
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return pred(); });
  }
};

class FakeProcess final : public ContainerProcess {
 public:
  FakeProcess(std::shared_ptr<FakeRuntimeState> state, int id) : state_(std::move(state)), id_(id) {}
  ~FakeProcess() override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    --state_->alive_processes;
    state_->changed.notify_all();
  }
  Result<std::string> Exchange(std::string_view line, std::chrono::milliseconds, size_t,
                               const std::atomic<bool>* cancel) override {
    if (cancelled_ || (cancel && cancel->load())) return MakeError(ErrorCode::kCancelled, "cancelled");
    if (!alive_) return Unavailable("warm instance exited");
    std::function<Result<std::string>(int, const std::string&)> script;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->inputs.emplace_back(line);
      state_->exchange_cancel = cancel;
      script = state_->on_exchange;
    }
    Result<std::string> answer = script ? script(id_, std::string(line))
                                        : Result<std::string>("{\"instance\": " + std::to_string(id_) +
                                                              ", \"echo\": " + std::string(line) + "}");
    if (!answer && answer.error().code != ErrorCode::kInvalidArgument) alive_ = false;
    logs_ += "handled " + std::string(line) + "\n";
    return answer;
  }
  std::string TakeLogs() override { return std::exchange(logs_, ""); }
  bool IsAlive() override { return alive_; }
  void Cancel() override {
    cancelled_ = true;
    std::lock_guard<std::mutex> lock(state_->mutex);
    ++state_->cancelled;
    state_->changed.notify_all();
  }
  int id() const { return id_; }

 private:
  std::shared_ptr<FakeRuntimeState> state_;
  int id_;
  bool alive_ = true;
  std::atomic<bool> cancelled_{false};
  std::string logs_;
};

class FakeSandbox final : public PreparedSandbox {
 public:
  FakeSandbox(std::shared_ptr<FakeRuntimeState> state, ContainerSpec spec) : state_(std::move(state)), spec_(std::move(spec)) {}
  ~FakeSandbox() override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    --state_->alive_sandboxes;
    if (!used) ++state_->discarded;
    state_->changed.notify_all();
  }
  const ContainerSpec& spec() const override { return spec_; }
  bool used = false;

 private:
  std::shared_ptr<FakeRuntimeState> state_;
  ContainerSpec spec_;
};

class FakeRuntime final : public ContainerRuntime {
 public:
  explicit FakeRuntime(std::shared_ptr<FakeRuntimeState> state) : state_(std::move(state)) {}
  std::string_view Name() const override { return "fake"; }
  LimitSupport Limits() const override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->limits;
  }
  // The test process's uid: a broker's peer check then admits the test connecting as a function.
  Result<UidPool::Lease> LeaseUid() override { return UidPool::Lease::Unlocked(geteuid()); }

  Result<RunOutput> Run(const ContainerSpec& spec, std::string_view input, const RunLimits& limits) override {
    std::function<Result<RunOutput>(const ContainerSpec&, const std::string&)> script;
    {
      std::unique_lock<std::mutex> lock(state_->mutex);
      state_->runs.push_back(spec);
      state_->inputs.emplace_back(input);
      ++state_->running;
      state_->max_running = std::max(state_->max_running, state_->running);
      state_->changed.notify_all();
      if (state_->hold) {
        ++state_->held;
        state_->changed.notify_all();
        // Polls the cancel flag as the real runtimes do.
        while (state_->releases == 0 && !(limits.cancel && limits.cancel->load())) {
          state_->changed.wait_for(lock, std::chrono::milliseconds(10));
        }
        if (state_->releases > 0) --state_->releases;
        --state_->held;
      }
      script = state_->on_run;
    }
    Result<RunOutput> out;
    if (limits.cancel && limits.cancel->load()) {
      out = RunOutput{};
      out->exit_code = 137;
    } else if (script) {
      out = script(spec, std::string(input));
    } else {
      out = RunOutput{};
      out->exit_code = 0;
      out->stdout_data = "{\"echo\": " + std::string(input) + "}";
      out->wall = std::chrono::microseconds(1500);
    }
    std::lock_guard<std::mutex> lock(state_->mutex);
    --state_->running;
    state_->changed.notify_all();
    return out;
  }

  bool CanPrepare() const override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->can_prepare;
  }
  Result<std::unique_ptr<PreparedSandbox>> Prepare(const ContainerSpec& spec) override {
    std::function<Result<void>()> script;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (!state_->can_prepare) return Unavailable("fake: cannot prepare");
      script = state_->on_prepare;
    }
    if (script) {
      auto ok = script();
      if (!ok) return tl::unexpected(ok.error());
    }
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->prepared.push_back(spec);
    ++state_->alive_sandboxes;
    state_->changed.notify_all();
    return std::unique_ptr<PreparedSandbox>(new FakeSandbox(state_, spec));
  }
  Result<RunOutput> RunPrepared(std::unique_ptr<PreparedSandbox> sandbox, std::string_view input,
                                const RunLimits& limits) override {
    auto* fake = dynamic_cast<FakeSandbox*>(sandbox.get());
    if (!fake) return InvalidArgument("fake: not a fake sandbox");
    {
      // can_prepare turned off after the pool filled: as if the sandbox had died while it waited.
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (!state_->can_prepare) return Unavailable("fake: the prepared sandbox exited before its invocation");
    }
    fake->used = true;
    const ContainerSpec spec = fake->spec();
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->prepared_runs.push_back(spec.id);
    }
    sandbox.reset();
    return Run(spec, input, limits);
  }

  Result<std::unique_ptr<ContainerProcess>> Start(const ContainerSpec& spec) override {
    std::function<Result<void>()> script;
    int id;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->starts.push_back(spec);
      script = state_->on_start;
      id = ++state_->next_process_id;
    }
    if (script) {
      auto ok = script();
      if (!ok) return tl::unexpected(ok.error());
    }
    std::lock_guard<std::mutex> lock(state_->mutex);
    ++state_->alive_processes;
    return std::unique_ptr<ContainerProcess>(new FakeProcess(state_, id));
  }

 private:
  std::shared_ptr<FakeRuntimeState> state_;
};

}  // namespace ew::containers::testing
