// FunctionHost over a FakeRuntime: argv/env per runtime, outcome mapping, admission (per
// function, host-wide, bounded queue), run slots shared between tenants, threads only while busy
// (and the few parked for the next call),
// install/uninstall, warm pool.
#include "containers/host/function_host.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/fake_container_runtime.hpp"
#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::FakeRuntime;
using testing::FakeRuntimeState;
using Status = InvocationResult::Status;

size_t ThreadCount() {
  size_t n = 0;
  DIR* dir = opendir("/proc/self/task");
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

// `done()` holds within `timeout` (polled).
template <typename Done>
bool WaitUntil(Done done, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  return done();
}

// The count of this process's threads reaches `want` within `timeout`.
bool ThreadCountReaches(size_t want, std::chrono::milliseconds timeout = 10s) {
  return WaitUntil([want] { return ThreadCount() == want; }, timeout);
}

// Collects asynchronous results, in completion order.
class Results {
 public:
  std::function<void(Result<InvocationResult>)> Callback(int tag = 0) {
    return [this, tag](Result<InvocationResult> r) {
      std::lock_guard<std::mutex> lock(mutex_);
      items_.emplace_back(tag, std::move(r));
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return items_.size() >= n; });
  }
  std::vector<std::pair<int, Result<InvocationResult>>> Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_;
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::pair<int, Result<InvocationResult>>> items_;
};

class FunctionHostTest : public ::testing::Test {
 protected:
  void SetUp() override { state_ = std::make_shared<FakeRuntimeState>(); }

  void MakeHost(HostConfig config = {}) {
    if (!config.clock) config.clock = &clock_;
    host_ = std::make_unique<FunctionHost>(config, std::make_unique<FakeRuntime>(state_));
  }

  FunctionSpec Spec(const std::string& name, Runtime runtime = Runtime::kSh, const std::string& entry = "main.sh") {
    FunctionSpec spec;
    spec.name = name;
    spec.version = "1.0.0";
    spec.runtime = runtime;
    spec.entrypoint = entry;
    spec.timeout = 5000ms;
    testing::WriteFile(code_ / name / entry, "echo '{}'\n", 0755);
    return spec;
  }

  void Install(const std::string& key, const FunctionSpec& spec) {
    auto installed = host_->Install(key, spec, code_ / spec.name);
    ASSERT_TRUE(installed) << installed.error().message;
  }

  Result<InvocationResult> InvokeSync(const std::string& key, const std::string& event = "{}") {
    std::promise<Result<InvocationResult>> promise;
    auto future = promise.get_future();
    host_->Invoke(key, event, [&promise](Result<InvocationResult> r) { promise.set_value(std::move(r)); });
    if (future.wait_for(10s) != std::future_status::ready) return Internal("no answer within 10 s");
    return future.get();
  }
  // The same with the caller's cancel flag.
  Result<InvocationResult> InvokeCancellable(const std::string& key, std::shared_ptr<std::atomic<bool>> cancel) {
    Results results;
    host_->InvokeEvent(key, json::object(), results.Callback(), std::move(cancel));
    if (!results.WaitFor(1)) return Internal("no answer within 10 s");
    return results.Take()[0].second;
  }

  InstalledFunction Listed(const std::string& key) {
    for (auto& f : host_->List()) {
      if (f.key == key) return f;
    }
    ADD_FAILURE() << key << " not listed";
    return {};
  }

  std::shared_ptr<FakeRuntimeState> state_;
  ManualClock clock_;
  testing::TempDir code_{"ew-host-test"};
  std::unique_ptr<FunctionHost> host_;
};

TEST_F(FunctionHostTest, ColdShInvocationSucceedsWithParsedOutput) {
  MakeHost();
  Install("fn-a", Spec("hello"));
  auto result = InvokeSync("fn-a", R"({ "x" : 1 })");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, Status::kSucceeded);
  EXPECT_EQ(result->output, json::parse(R"({"echo": {"x": 1}})"));
  EXPECT_TRUE(result->cold);
  EXPECT_EQ(result->runtime, "fake");
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->run_time, 1500us);

  ASSERT_EQ(state_->runs.size(), 1u);
  const auto& spec = state_->runs[0];
  EXPECT_EQ(spec.argv, (std::vector<std::string>{"/bin/sh", "/fn/main.sh"}));
  EXPECT_EQ(spec.code_dir, code_ / "hello");
  for (const char* env : {"EW_FUNCTION=hello", "EW_VERSION=1.0.0", "EW_MODE=cold"}) {
    EXPECT_NE(std::find(spec.env.begin(), spec.env.end(), env), spec.env.end()) << env;
  }
  EXPECT_EQ(state_->inputs[0], R"({"x":1})");  // compact, one line
  EXPECT_FALSE(spec.network);
  EXPECT_EQ(spec.memory_bytes, 64ull << 20);
}

TEST_F(FunctionHostTest, ArgvFollowsTheRuntime) {
  MakeHost();
  Install("py", Spec("py", Runtime::kPython3, "src/main.py"));
  Install("bin", Spec("bin", Runtime::kNative, "bin/hello"));
  ASSERT_TRUE(InvokeSync("py"));
  ASSERT_TRUE(InvokeSync("bin"));
  ASSERT_EQ(state_->runs.size(), 2u);
  EXPECT_EQ(state_->runs[0].argv, (std::vector<std::string>{"/usr/bin/python3", "/fn/src/main.py"}));
  EXPECT_EQ(state_->runs[1].argv, (std::vector<std::string>{"/fn/bin/hello"}));
  EXPECT_NE(state_->runs[0].id, state_->runs[1].id);
}

TEST_F(FunctionHostTest, OutcomesMapToStatuses) {
  MakeHost();
  Install("fn", Spec("fn"));
  struct Case {
    RunOutput out;
    Status status;
    std::string error;
  };
  std::vector<Case> cases;
  {
    RunOutput o;
    o.exit_code = 3;
    o.stderr_data = "bad things\n";
    cases.push_back({o, Status::kFailed, "exit status 3"});
  }
  {
    RunOutput o;
    o.exit_code = 0;
    o.stdout_data = "hello, not json";
    cases.push_back({o, Status::kFailed, "stdout is not JSON"});
  }
  {
    RunOutput o;
    o.exit_code = 137;
    o.stdout_truncated = true;
    cases.push_back({o, Status::kFailed, "output over 1 MiB"});
  }
  {
    RunOutput o;
    o.exit_code = 137;
    o.timed_out = true;
    cases.push_back({o, Status::kTimedOut, "timed out after 5000 ms"});
  }
  for (const auto& c : cases) {
    state_->on_run = [&](const ContainerSpec&, const std::string&) -> Result<RunOutput> { return c.out; };
    auto result = InvokeSync("fn");
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->status, c.status) << c.error;
    EXPECT_EQ(result->error, c.error);
    EXPECT_TRUE(result->output.is_null());
    EXPECT_EQ(result->logs, c.out.stderr_data);
    EXPECT_EQ(result->exit_code, c.out.exit_code);
  }
  state_->on_run = [](const ContainerSpec&, const std::string&) -> Result<RunOutput> {
    return Unavailable("runc exploded");
  };
  auto failed = InvokeSync("fn");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(failed.error().message.find("runc exploded"), std::string::npos);
}

TEST_F(FunctionHostTest, BadCallsFailInlineBeforeQueueing) {
  HostConfig config;
  config.max_event_bytes = 16;
  MakeHost(config);
  Install("fn", Spec("fn"));
  auto missing = InvokeSync("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto not_json = InvokeSync("fn", "{oops");
  ASSERT_FALSE(not_json);
  EXPECT_EQ(not_json.error().code, ErrorCode::kInvalidArgument);
  auto too_big = InvokeSync("fn", R"({"a": "0123456789abcdef"})");
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(state_->runs.empty());
}

TEST_F(FunctionHostTest, PerFunctionConcurrencyQueuesTheRestInOrder) {
  MakeHost();
  auto spec = Spec("fn");
  spec.max_concurrency = 2;
  Install("fn", spec);
  state_->hold = true;
  Results results;
  for (int i = 0; i < 5; ++i) host_->Invoke("fn", "{\"i\": " + std::to_string(i) + "}", results.Callback(i));
  ASSERT_TRUE(state_->WaitFor([&] { return state_->held == 2; }));
  auto listed = Listed("fn");
  EXPECT_EQ(listed.running, 2u);
  EXPECT_EQ(listed.queued, 3u);
  // One finished call lets exactly one queued call start: the oldest.
  for (size_t next = 2; next < 5; ++next) {
    state_->Release(1);
    ASSERT_TRUE(state_->WaitFor([&] { return state_->runs.size() == next + 1 && state_->held == 2; }));
    EXPECT_EQ(state_->inputs[next], "{\"i\":" + std::to_string(next) + "}");
  }
  state_->Release(2);
  ASSERT_TRUE(results.WaitFor(5));
  EXPECT_EQ(state_->max_running, 2);
  for (auto& [tag, r] : results.Take()) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->output["echo"]["i"], tag);
  }
}

TEST_F(FunctionHostTest, HostWideLimitSpansFunctions) {
  HostConfig config;
  config.max_running = 3;
  MakeHost(config);
  Install("a", Spec("a"));
  Install("b", Spec("b"));
  state_->hold = true;
  Results results;
  for (int i = 0; i < 4; ++i) {
    host_->Invoke("a", "{}", results.Callback());
    host_->Invoke("b", "{}", results.Callback());
  }
  ASSERT_TRUE(state_->WaitFor([&] { return state_->held == 3; }));
  EXPECT_EQ(Listed("a").running + Listed("b").running, 3u);
  EXPECT_EQ(Listed("a").queued + Listed("b").queued, 5u);
  state_->Release(8);
  ASSERT_TRUE(results.WaitFor(8));
  EXPECT_EQ(state_->max_running, 3);
}

TEST_F(FunctionHostTest, FullQueueRefuses) {
  HostConfig config;
  config.max_running = 1;
  config.max_queued = 2;
  MakeHost(config);
  Install("fn", Spec("fn"));
  state_->hold = true;
  Results results;
  for (int i = 0; i < 3; ++i) host_->Invoke("fn", "{}", results.Callback());
  ASSERT_TRUE(state_->WaitFor([&] { return state_->held == 1; }));
  auto refused = InvokeSync("fn");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  state_->Release(3);
  ASSERT_TRUE(results.WaitFor(3));
}

TEST_F(FunctionHostTest, NoThreadIsLeftWhenIdle) {
  size_t baseline = ThreadCount();
  HostConfig config;
  config.parked_worker_timeout = 2s;  // on clock_
  MakeHost(config);
  Install("fn", Spec("fn"));
  EXPECT_EQ(ThreadCount(), baseline);
  state_->hold = true;
  Results results;
  for (int i = 0; i < 6; ++i) host_->Invoke("fn", "{}", results.Callback());
  ASSERT_TRUE(state_->WaitFor([&] { return state_->held == 4; }));  // max_concurrency 4
  EXPECT_GE(ThreadCount(), baseline + 4);
  state_->Release(6);
  ASSERT_TRUE(results.WaitFor(6));
  // All but two workers exit right after their last callback; those two park until the
  // timeout passes on the host's clock.
  EXPECT_TRUE(WaitUntil([&] { return host_->ParkedWorkers() == 2; }));
  EXPECT_TRUE(ThreadCountReaches(baseline + 2)) << ThreadCount() - baseline << " workers left";
  clock_.Advance(2s);
  EXPECT_TRUE(ThreadCountReaches(baseline));
  EXPECT_EQ(host_->ParkedWorkers(), 0u);
}

TEST_F(FunctionHostTest, AParkedWorkerRunsTheNextCall) {
  MakeHost();  // default parked_worker_timeout: 10 s on clock_
  Install("fn", Spec("fn"));
  // Counted after Install: its log line may have started the logger's thread.
  const size_t baseline = ThreadCount();
  std::vector<pid_t> ran_on;  // kernel thread ids: not reused the way pthread ids are
  for (int i = 0; i < 3; ++i) {
    std::promise<pid_t> done;
    host_->Invoke("fn", "{}", [&done](Result<InvocationResult> r) {
      EXPECT_TRUE(r);
      done.set_value(gettid());
    });
    ran_on.push_back(done.get_future().get());
    // The worker parks after its callback returns: one thread, not one per call.
    ASSERT_TRUE(WaitUntil([&] { return host_->ParkedWorkers() == 1; }));
    EXPECT_EQ(ThreadCount(), baseline + 1);
  }
  EXPECT_EQ(ran_on[1], ran_on[0]);
  EXPECT_EQ(ran_on[2], ran_on[0]);
  EXPECT_EQ(state_->runs.size(), 3u);
  clock_.Advance(9s);
  EXPECT_EQ(host_->ParkedWorkers(), 1u);
  clock_.Advance(1s);
  EXPECT_TRUE(ThreadCountReaches(baseline)) << "the timeout passed";
  EXPECT_EQ(host_->ParkedWorkers(), 0u);
}

TEST_F(FunctionHostTest, ShutdownDoesNotWaitForParkedWorkers) {
  MakeHost();
  Install("fn", Spec("fn"));
  const size_t baseline = ThreadCount();
  ASSERT_TRUE(InvokeSync("fn"));
  ASSERT_TRUE(WaitUntil([&] { return host_->ParkedWorkers() == 1; }));
  auto start = std::chrono::steady_clock::now();
  host_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_TRUE(ThreadCountReaches(baseline));
}

TEST_F(FunctionHostTest, UninstallFailsQueuedCallsAndLetsRunningOnesFinish) {
  MakeHost();
  auto spec = Spec("fn");
  spec.max_concurrency = 1;
  Install("fn", spec);
  state_->hold = true;
  Results results;
  host_->Invoke("fn", "{}", results.Callback(0));
  host_->Invoke("fn", "{}", results.Callback(1));
  ASSERT_TRUE(state_->WaitFor([&] { return state_->held == 1; }));
  ASSERT_TRUE(host_->Uninstall("fn"));
  ASSERT_TRUE(results.WaitFor(1));
  auto first = results.Take()[0];
  EXPECT_EQ(first.first, 1);
  ASSERT_FALSE(first.second);
  EXPECT_EQ(first.second.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(host_->List().empty());
  state_->Release();
  ASSERT_TRUE(results.WaitFor(2));
  EXPECT_TRUE(results.Take()[1].second);
  EXPECT_EQ(host_->Uninstall("fn").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(InvokeSync("fn").error().code, ErrorCode::kNotFound);
}

TEST_F(FunctionHostTest, ReplacementRunsNewCallsOnTheNewCode) {
  MakeHost();
  Install("fn", Spec("v1"));
  state_->hold = true;
  Results results;
  host_->Invoke("fn", "{}", results.Callback(0));
  ASSERT_TRUE(state_->WaitFor([&] { return state_->held == 1; }));
  auto v2 = Spec("v2");
  v2.version = "2.0.0";
  Install("fn", v2);
  EXPECT_EQ(Listed("fn").spec.version, "2.0.0");
  EXPECT_EQ(Listed("fn").running, 1u);
  state_->hold = false;
  state_->Release();
  ASSERT_TRUE(results.WaitFor(1));
  ASSERT_TRUE(InvokeSync("fn"));
  ASSERT_EQ(state_->runs.size(), 2u);
  EXPECT_EQ(state_->runs[0].code_dir, code_ / "v1");
  EXPECT_EQ(state_->runs[1].code_dir, code_ / "v2");
}

TEST_F(FunctionHostTest, InstallRefusesWhatCannotRunHere) {
  HostConfig config;
  config.arch = "x86_64";
  MakeHost(config);
  auto native = Spec("native", Runtime::kNative, "bin/hello-aarch64");
  native.implementations.push_back({"aarch64", Runtime::kNative, "bin/hello-aarch64"});
  auto refused = host_->Install("native", native, code_ / "native");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);

  auto missing = Spec("missing");
  missing.entrypoint = "nope.sh";
  EXPECT_EQ(host_->Install("missing", missing, code_ / "missing").error().code, ErrorCode::kInvalidArgument);

  // The implementation for this arch is chosen over the top-level one.
  auto multi = Spec("multi", Runtime::kNative, "bin/hello-aarch64");
  testing::WriteFile(code_ / "multi" / "bin/hello-x86_64", "", 0755);
  multi.implementations = {{"aarch64", Runtime::kNative, "bin/hello-aarch64"},
                           {"x86_64", Runtime::kNative, "bin/hello-x86_64"}};
  Install("multi", multi);
  ASSERT_TRUE(InvokeSync("multi"));
  EXPECT_EQ(state_->runs.back().argv, (std::vector<std::string>{"/fn/bin/hello-x86_64"}));
}

class WarmHostTest : public FunctionHostTest {
 protected:
  FunctionSpec WarmSpec(uint32_t instances = 1) {
    auto spec = Spec("warm");
    spec.warm.enabled = true;
    spec.warm.max_instances = instances;
    spec.warm.idle_timeout = 60s;
    spec.max_concurrency = 8;
    return spec;
  }
};

TEST_F(WarmHostTest, InstanceIsReusedAcrossCalls) {
  MakeHost();
  Install("fn", WarmSpec());
  auto first = InvokeSync("fn", R"({"n": 1})");
  auto second = InvokeSync("fn", R"({"n": 2})");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, Status::kSucceeded);
  EXPECT_TRUE(first->cold);    // started for this call
  EXPECT_FALSE(second->cold);  // served by the warm instance
  EXPECT_EQ(first->output["instance"], second->output["instance"]);
  EXPECT_EQ(second->output["echo"]["n"], 2);
  EXPECT_EQ(second->logs, "handled {\"n\":2}\n");
  ASSERT_EQ(state_->starts.size(), 1u);
  auto& env = state_->starts[0].env;
  EXPECT_NE(std::find(env.begin(), env.end(), "EW_MODE=warm"), env.end());
  EXPECT_TRUE(state_->runs.empty());
  EXPECT_EQ(Listed("fn").warm_instances, 1u);
}

TEST_F(WarmHostTest, CrashedInstanceIsReplacedOnTheNextCall) {
  MakeHost();
  Install("fn", WarmSpec());
  state_->on_exchange = [](int instance, const std::string& line) -> Result<std::string> {
    if (line.find("crash") != std::string::npos) return Unavailable("warm instance exited (exit status 3): boom");
    return "{\"instance\": " + std::to_string(instance) + "}";
  };
  auto before = InvokeSync("fn");
  auto crash = InvokeSync("fn", R"({"crash": true})");
  auto after = InvokeSync("fn");
  ASSERT_TRUE(before && crash && after);
  EXPECT_EQ(crash->status, Status::kFailed);
  EXPECT_NE(crash->error.find("boom"), std::string::npos);
  EXPECT_EQ(after->status, Status::kSucceeded);
  EXPECT_NE(before->output["instance"], after->output["instance"]);
  EXPECT_TRUE(after->cold);
  EXPECT_EQ(state_->alive_processes, 1);
}

TEST_F(WarmHostTest, TimeoutAndOversizeDiscardTheInstance) {
  MakeHost();
  Install("fn", WarmSpec());
  state_->on_exchange = [](int, const std::string& line) -> Result<std::string> {
    if (line.find("slow") != std::string::npos) return DeadlineExceeded("no answer");
    if (line.find("big") != std::string::npos) return ResourceExhausted("too long");
    return std::string("not json");
  };
  auto slow = InvokeSync("fn", R"({"slow": 1})");
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, Status::kTimedOut);
  auto big = InvokeSync("fn", R"({"big": 1})");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->error, "output over 1 MiB");
  auto garbage = InvokeSync("fn");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->error, "stdout is not JSON");
  EXPECT_EQ(state_->starts.size(), 3u);  // a new instance after each discarded one
  EXPECT_EQ(state_->alive_processes, 1);  // "not JSON" keeps its instance
}

TEST_F(WarmHostTest, ConcurrencyIsBoundByInstancesOneCallerEach) {
  MakeHost();
  Install("fn", WarmSpec(2));
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  int inside = 0, most = 0;
  bool open = false;
  state_->on_exchange = [&](int instance, const std::string&) -> Result<std::string> {
    std::unique_lock<std::mutex> lock(gate_mutex);
    ++inside;
    most = std::max(most, inside);
    gate_cv.notify_all();
    gate_cv.wait(lock, [&] { return open; });
    --inside;
    return "{\"instance\": " + std::to_string(instance) + "}";
  };
  Results results;
  for (int i = 0; i < 6; ++i) host_->Invoke("fn", "{}", results.Callback());
  {
    std::unique_lock<std::mutex> lock(gate_mutex);
    ASSERT_TRUE(gate_cv.wait_for(lock, 10s, [&] { return inside == 2; }));
  }
  EXPECT_EQ(Listed("fn").running, 2u);
  EXPECT_EQ(Listed("fn").queued, 4u);
  {
    std::lock_guard<std::mutex> lock(gate_mutex);
    open = true;
    gate_cv.notify_all();
  }
  ASSERT_TRUE(results.WaitFor(6));
  EXPECT_EQ(most, 2);
  EXPECT_EQ(state_->starts.size(), 2u);
  for (auto& [tag, r] : results.Take()) EXPECT_EQ(r->status, Status::kSucceeded);
}

TEST_F(WarmHostTest, IdleInstancesStopAfterTheTimeoutAndTheReaperLeaves) {
  size_t baseline = ThreadCount();
  HostConfig config;
  config.max_parked_workers = 0;  // only the reaper is watched here
  MakeHost(config);
  Install("fn", WarmSpec());
  ASSERT_TRUE(InvokeSync("fn"));
  EXPECT_EQ(Listed("fn").warm_instances, 1u);
  clock_.Advance(30s);
  ASSERT_TRUE(InvokeSync("fn"));  // used again: the idle clock restarts
  clock_.Advance(45s);
  EXPECT_EQ(Listed("fn").warm_instances, 1u);
  clock_.Advance(20s);
  // The reaper re-reads the clock at least every second.
  EXPECT_TRUE(state_->WaitFor([&] { return state_->alive_processes == 0; }, 5s));
  EXPECT_EQ(Listed("fn").warm_instances, 0u);
  EXPECT_TRUE(ThreadCountReaches(baseline, 5s));
}

TEST_F(WarmHostTest, ReplacementRetiresTheOldInstances) {
  MakeHost();
  Install("fn", WarmSpec());
  ASSERT_TRUE(InvokeSync("fn"));
  EXPECT_EQ(state_->alive_processes, 1);
  auto v2 = WarmSpec();
  v2.version = "2.0.0";
  Install("fn", v2);
  EXPECT_EQ(state_->alive_processes, 0);
  ASSERT_TRUE(InvokeSync("fn"));
  EXPECT_EQ(state_->starts.size(), 2u);
  auto& env = state_->starts[1].env;
  EXPECT_NE(std::find(env.begin(), env.end(), "EW_VERSION=2.0.0"), env.end());
  ASSERT_TRUE(host_->Uninstall("fn"));
  EXPECT_EQ(state_->alive_processes, 0);
}

TEST_F(WarmHostTest, StartFailureIsUnavailable) {
  MakeHost();
  Install("fn", WarmSpec());
  state_->on_start = []() -> Result<void> { return Unavailable("no runtime"); };
  auto result = InvokeSync("fn");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
}

TEST_F(FunctionHostTest, DestructionCancelsRunningAndQueuedCalls) {
  MakeHost();
  auto spec = Spec("fn");
  spec.max_concurrency = 1;
  Install("fn", spec);
  state_->hold = true;
  Results results;
  host_->Invoke("fn", "{}", results.Callback(0));
  host_->Invoke("fn", "{}", results.Callback(1));
  ASSERT_TRUE(state_->WaitFor([&] { return state_->held == 1; }));
  host_.reset();  // must not hang: the held run sees the cancel flag
  ASSERT_EQ(results.size(), 2u);
  for (auto& [tag, r] : results.Take()) {
    ASSERT_FALSE(r) << tag;
    EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
  }
}

TEST_F(WarmHostTest, DestructionCancelsAWaitingWarmCall) {
  MakeHost();
  Install("fn", WarmSpec());
  std::atomic<bool> entered{false};
  // Answers only once cancelled, as a real instance stuck on a request.
  state_->on_exchange = [&](int, const std::string&) -> Result<std::string> {
    entered = true;
    state_->WaitFor([&] { return state_->cancelled > 0; });
    return MakeError(ErrorCode::kCancelled, "cancelled");
  };
  Results results;
  host_->Invoke("fn", "{}", results.Callback());
  while (!entered) std::this_thread::yield();
  host_.reset();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results.Take()[0].second.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(state_->alive_processes, 0);
}

// A caller that gives up (the conductor's cloud runtime past its wait) sets its flag: the warm
// instance its call waits on is told through Exchange, and the instance is not kept.
TEST_F(WarmHostTest, ACallersCancelKillsItsWarmInstance) {
  MakeHost();
  Install("fn", WarmSpec());
  ASSERT_TRUE(InvokeSync("fn"));  // the instance is up and idle
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> entered{false};
  // As a real instance stuck on a request: answers only once its caller's flag is set.
  state_->on_exchange = [&](int, const std::string&) -> Result<std::string> {
    const std::atomic<bool>* flag = nullptr;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      flag = state_->exchange_cancel;
    }
    entered = true;
    for (int i = 0; i < 10'000 && !(flag && flag->load()); ++i) std::this_thread::sleep_for(1ms);
    if (flag && flag->load()) return MakeError(ErrorCode::kCancelled, "warm instance cancelled");
    return std::string("{}");
  };
  Results results;
  host_->InvokeEvent("fn", json::object(), results.Callback(), cancel);
  for (int i = 0; i < 10'000 && !entered; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(entered);
  cancel->store(true);
  host_->DropCancelled();
  ASSERT_TRUE(results.WaitFor(1));
  auto r = results.Take()[0].second;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(r.error().message, "cancelled (killed)");
  EXPECT_TRUE(state_->WaitFor([&] { return state_->alive_processes == 0; }));
  // `done` comes before the worker gives the slot back: wait (bounded) for that.
  bool freed = false;
  for (int i = 0; i < 10'000 && !(freed = Listed("fn").running == 0); ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(freed);
}

// The caller gave up after the host took its call but before its line reached the instance (here:
// while the instance started): the call fails, and the instance, which saw nothing, is kept.
TEST_F(WarmHostTest, ACallCancelledBeforeItsLineIsWrittenKeepsTheInstance) {
  MakeHost();
  Install("fn", WarmSpec());
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  state_->on_start = [cancel]() -> Result<void> {
    cancel->store(true);
    return Ok();
  };
  auto r = InvokeCancellable("fn", cancel);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(r.error().message, "cancelled");
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->on_start = nullptr;
  }
  auto next = InvokeSync("fn");
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_FALSE(next->cold);  // the same instance
  EXPECT_EQ(state_->starts.size(), 1u);
}

// An instance found out of step before the request reached it (Conflict from Exchange) is not
// the call's failure: the call goes to a new instance.
TEST_F(WarmHostTest, AnInstanceOutOfStepBeforeTheRequestHandsTheCallToAnother) {
  MakeHost();
  Install("fn", WarmSpec());
  auto first = InvokeSync("fn");
  ASSERT_TRUE(first);
  const int stale = first->output["instance"].get<int>();
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->on_exchange = [stale](int instance, const std::string&) -> Result<std::string> {
      if (instance == stale) return MakeError(ErrorCode::kConflict, "out of step");
      return "{\"instance\": " + std::to_string(instance) + "}";
    };
  }
  auto second = InvokeSync("fn");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->status, Status::kSucceeded) << second->error;
  EXPECT_NE(second->output["instance"].get<int>(), stale);
  EXPECT_TRUE(second->cold);
  EXPECT_EQ(state_->starts.size(), 2u);
  EXPECT_TRUE(state_->WaitFor([&] { return state_->alive_processes == 1; }));
}

// The caller's flag was set before the host heard of the call (the conductor's timer fired while
// the event was being printed): with a free slot, it must still not start.
TEST_F(FunctionHostTest, ACallCancelledBeforeItReachesTheHostNeverStarts) {
  MakeHost();
  Install("fn", Spec("fn"));
  auto r = InvokeCancellable("fn", std::make_shared<std::atomic<bool>>(true));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kCancelled);
  EXPECT_TRUE(state_->runs.empty());
  EXPECT_EQ(Listed("fn").running, 0u);
  EXPECT_EQ(Listed("fn").queued, 0u);
  ASSERT_TRUE(InvokeSync("fn"));  // nothing was left counted: the next call runs
}

// The flake of containers_host_real_test DestroyingTheHostStopsAWarmCallStuckOnARequest: the host
// was destroyed while the call's warm instance was starting; the new instance was lent out
// uncancelled and the call waited for its timeout. Start is held until the destructor has
// retired every version (it fails queued calls just after), so the interleaving is certain.
TEST_F(WarmHostTest, DestructionWhileTheInstanceStartsCancelsTheCall) {
  MakeHost();
  Install("fn", WarmSpec());  // one instance: the second call queues
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool entered = false, open = false;
  state_->on_start = [&]() -> Result<void> {
    std::unique_lock<std::mutex> lock(gate_mutex);
    entered = true;
    gate_cv.notify_all();
    gate_cv.wait(lock, [&] { return open; });
    return Ok();
  };
  Results results;
  host_->Invoke("fn", "{}", results.Callback(0));
  host_->Invoke("fn", "{}", results.Callback(1));
  {
    std::unique_lock<std::mutex> lock(gate_mutex);
    ASSERT_TRUE(gate_cv.wait_for(lock, 10s, [&] { return entered; }));
  }
  std::thread destroyer([&] { host_.reset(); });
  bool queued_failed = results.WaitFor(1);  // the queued call fails after the Retire(true)s
  {
    std::lock_guard<std::mutex> lock(gate_mutex);
    open = true;
    gate_cv.notify_all();
  }
  destroyer.join();
  ASSERT_TRUE(queued_failed);
  auto all = results.Take();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].first, 1);
  for (auto& [tag, r] : all) {
    ASSERT_FALSE(r) << "call " << tag << " was served after the host began shutting down";
    EXPECT_EQ(r.error().code, ErrorCode::kCancelled) << tag << ": " << r.error().message;
  }
  EXPECT_TRUE(state_->inputs.empty());  // the instance never got the request
  EXPECT_EQ(state_->alive_processes, 0);
}

// Run slots shared between tenants (issue 18 review M3): the conductor's cloud runtime installs
// each function with its project as tenant. Every run waits until the test lets its call go
// (Finish), so the test chooses which slot frees and reads the start order from the runtime.
class FairHostTest : public FunctionHostTest {
 protected:
  void TearDown() override {
    OpenAll();  // nothing may wait past the test: the host's destructor waits for its workers
    host_.reset();
  }

  void MakeHost(size_t max_running) {
    HostConfig config;
    config.max_running = max_running;
    FunctionHostTest::MakeHost(config);
    state_->on_run = [this](const ContainerSpec&, const std::string& input) -> Result<RunOutput> {
      const std::string call = json::parse(input)["call"];
      std::unique_lock<std::mutex> lock(gate_mutex_);
      gate_changed_.wait_for(lock, 10s, [&] { return all_open_ || open_.count(call) > 0; });
      RunOutput out;
      out.exit_code = 0;
      out.stdout_data = "{\"echo\": " + input + "}";
      return out;
    };
  }

  // Installs `key` for `tenant` ("" = no tenant, as on a board).
  void InstallFor(const std::string& tenant, const std::string& key) {
    auto spec = Spec(key);
    spec.max_concurrency = 64;  // only the host-wide limit queues
    auto installed = host_->Install(key, spec, code_ / key, tenant);
    ASSERT_TRUE(installed) << installed.error().message;
  }

  // Invokes `key` with the call name "<key>#<n>".
  void Call(const std::string& key, int n, std::shared_ptr<std::atomic<bool>> cancel = nullptr) {
    host_->InvokeEvent(key, {{"call", key + "#" + std::to_string(n)}}, results_.Callback(), std::move(cancel));
  }

  // Waits until `n` runs have started; their call names, in start order.
  std::vector<std::string> Started(size_t n) {
    std::vector<std::string> out;
    bool reached = state_->WaitFor([&] { return state_->inputs.size() >= n; });
    EXPECT_TRUE(reached) << "only " << state_->inputs.size() << " of " << n << " runs started";
    std::lock_guard<std::mutex> lock(state_->mutex);
    for (const auto& input : state_->inputs) out.push_back(json::parse(input)["call"]);
    return out;
  }

  // Lets `call`'s run end, and waits for the run the freed slot starts (the `started`th).
  void Finish(const std::string& call, size_t started) {
    {
      std::lock_guard<std::mutex> lock(gate_mutex_);
      open_.insert(call);
    }
    gate_changed_.notify_all();
    Started(started);
  }

  void OpenAll() {
    {
      std::lock_guard<std::mutex> lock(gate_mutex_);
      all_open_ = true;
    }
    gate_changed_.notify_all();
  }

  // Every call answered, none failed.
  void ExpectAllSucceed(size_t calls) {
    OpenAll();
    ASSERT_TRUE(results_.WaitFor(calls));
    for (auto& [tag, r] : results_.Take()) {
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r->status, Status::kSucceeded);
    }
  }

  Results results_;
  std::mutex gate_mutex_;
  std::condition_variable gate_changed_;
  std::set<std::string> open_;  // GUARDED_BY(gate_mutex_)
  bool all_open_ = false;       // GUARDED_BY(gate_mutex_)
};

using Calls = std::vector<std::string>;

// Calls that start at once (each on its own thread) reach the runtime in any order: those are
// compared as sets, the ones started one at a time as freed slots came in order.
Calls FirstAsSet(Calls calls, size_t n) {
  calls.resize(std::min(n, calls.size()));
  std::sort(calls.begin(), calls.end());
  return calls;
}
Calls From(const Calls& calls, size_t first) {
  return Calls(calls.begin() + std::min(first, calls.size()), calls.end());
}

TEST_F(FairHostTest, Issue18ReviewM3_TenantWaitingBehindAnotherTakesTheNextFreeSlot) {
  MakeHost(2);
  InstallFor("project-a", "a");
  InstallFor("project-b", "b");
  for (int i = 0; i < 6; ++i) Call("a", i);
  Call("b", 0);
  EXPECT_EQ(FirstAsSet(Started(2), 2), (Calls{"a#0", "a#1"}));
  EXPECT_EQ(Listed("a").queued, 4u);
  EXPECT_EQ(Listed("b").queued, 1u);
  // Before: b#0 waited behind a#2..a#5, its queue time counted as the cloud's slowness.
  Finish("a#0", 3);
  EXPECT_EQ(Started(3).back(), "b#0");
  // A's calls go on in their order.
  Finish("a#1", 4);
  EXPECT_EQ(Started(4).back(), "a#2");
  ExpectAllSucceed(7);
}

TEST_F(FairHostTest, FreedSlotsGoToTheTenantRunningTheFewest) {
  MakeHost(4);
  InstallFor("project-a", "a");
  InstallFor("project-b", "b");
  for (int i = 0; i < 6; ++i) Call("a", i);
  for (int i = 0; i < 3; ++i) Call("b", i);
  EXPECT_EQ(FirstAsSet(Started(4), 4), (Calls{"a#0", "a#1", "a#2", "a#3"}));
  Finish("a#0", 5);  // A runs 3, B 0
  Finish("a#1", 6);  // A 2, B 1: B again (turn by turn would give A its turn here)
  Finish("a#2", 7);  // A 1, B 2
  Finish("b#0", 8);  // A 2, B 1
  EXPECT_EQ(From(Started(8), 4), (Calls{"b#0", "b#1", "a#4", "b#2"}));
  ExpectAllSucceed(9);
}

TEST_F(FairHostTest, TenantsTakeTurnsFifoWithinEach) {
  MakeHost(1);
  InstallFor("project-a", "a1");
  InstallFor("project-a", "a2");
  InstallFor("project-b", "b");
  Call("a1", 0);
  Call("a2", 0);
  Call("a1", 1);
  Call("b", 0);
  Call("b", 1);
  Started(1);
  Finish("a1#0", 2);
  Finish("b#0", 3);
  Finish("a2#0", 4);
  Finish("b#1", 5);
  // On a tie (none running) the tenant that started one longest ago goes first; A's two
  // functions keep one order between them.
  EXPECT_EQ(Started(5), (Calls{"a1#0", "b#0", "a2#0", "b#1", "a1#1"}));
  ExpectAllSucceed(5);
}

TEST_F(FairHostTest, WithoutTenantsTheQueueStaysOneFifo) {
  // A board: every function installed with no tenant. Functions are not tenants: y's call
  // waits behind every x call made before it.
  MakeHost(1);
  InstallFor("", "x");
  InstallFor("", "y");
  Call("x", 0);
  Call("x", 1);
  Call("x", 2);
  Call("y", 0);
  Call("y", 1);
  Started(1);
  Finish("x#0", 2);
  Finish("x#1", 3);
  Finish("x#2", 4);
  Finish("y#0", 5);
  EXPECT_EQ(Started(5), (Calls{"x#0", "x#1", "x#2", "y#0", "y#1"}));
  ExpectAllSucceed(5);
}

TEST_F(FairHostTest, CancelledAndUninstalledCallsGiveUpTheirTenantsTurn) {
  MakeHost(1);
  InstallFor("project-a", "a");
  InstallFor("project-b", "b");
  InstallFor("project-c", "c");
  Call("a", 0);
  Call("a", 1);
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  Call("b", 0, cancel);
  Call("c", 0);
  Started(1);
  cancel->store(true);
  host_->DropCancelled();
  ASSERT_TRUE(host_->Uninstall("c"));
  ASSERT_TRUE(results_.WaitFor(2));
  // Neither B nor C holds a turn any more: A's next call starts.
  Finish("a#0", 2);
  EXPECT_EQ(Started(2), (Calls{"a#0", "a#1"}));
  // B comes back with nothing running: it gets the next slot.
  Call("a", 2);
  Call("b", 1);
  Finish("a#1", 3);
  EXPECT_EQ(Started(3).back(), "b#1");
  OpenAll();
  ASSERT_TRUE(results_.WaitFor(6));
  std::map<std::string, ErrorCode> failed;
  for (auto& [tag, r] : results_.Take()) {
    if (!r) failed.emplace(r.error().message, r.error().code);
  }
  EXPECT_EQ(failed.size(), 2u);
  for (auto& [message, code] : failed) {
    EXPECT_TRUE(code == ErrorCode::kCancelled || code == ErrorCode::kNotFound) << message;
  }
}

TEST(InvocationResultTest, JsonRecord) {
  InvocationResult r;
  r.status = InvocationResult::Status::kTimedOut;
  r.error = "timed out after 10 ms";
  r.logs = "log";
  r.exit_code = 137;
  r.runtime = "runc";
  r.cold = true;
  r.queue_time = 10us;
  r.run_time = 41200us;
  EXPECT_EQ(ToJson(r), json::parse(R"({"status": "timed_out", "output": null, "error": "timed out after 10 ms",
      "logs": "log", "exitCode": 137, "runtime": "runc", "cold": true, "prepared": false, "queueMs": 0.01,
      "runMs": 41.2})"));
  EXPECT_EQ(StatusName(InvocationResult::Status::kSucceeded), "succeeded");
  EXPECT_EQ(StatusName(InvocationResult::Status::kFailed), "failed");
}

}  // namespace
}  // namespace ew::containers
