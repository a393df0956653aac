// FunctionHost over each real runtime installed here: cold sh/python3 functions, failures as
// results, timeouts, the output cap, 20 calls at once, and warm instances that are reused and
// replaced after a crash. crun is skipped where it cannot run (hybrid cgroups).
#include "containers/host/function_host.hpp"

#include <future>
#include <iostream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Status = InvocationResult::Status;

constexpr uint32_t kFunctionUid = 60200;

class RealHostTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto real = testing::MakeRealRuntime(GetParam(), work_.path() / "containers", kFunctionUid);
    if (!real.skip.empty()) GTEST_SKIP() << real.skip;
    ASSERT_TRUE(real.runtime) << real.failure;
    host_ = std::make_unique<FunctionHost>(HostConfig{}, std::move(real.runtime));
  }

  FunctionSpec Install(const std::string& key, Runtime runtime, const std::string& entry, const std::string& code,
                       std::function<void(FunctionSpec&)> tweak = nullptr) {
    FunctionSpec spec;
    spec.name = key;
    spec.version = "1.0.0";
    spec.runtime = runtime;
    spec.entrypoint = entry;
    spec.timeout = 10s;
    if (tweak) tweak(spec);
    testing::WriteFile(code_ / key / entry, code);
    auto installed = host_->Install(key, spec, code_ / key);
    EXPECT_TRUE(installed) << installed.error().message;
    return spec;
  }

  Result<InvocationResult> Call(const std::string& key, const std::string& event = "{}") {
    std::promise<Result<InvocationResult>> promise;
    auto future = promise.get_future();
    host_->Invoke(key, event, [&promise](Result<InvocationResult> r) { promise.set_value(std::move(r)); });
    if (future.wait_for(60s) != std::future_status::ready) return Internal("no answer within 60 s");
    return future.get();
  }

  testing::TempDir work_{"ew-host-work"};
  testing::TempDir code_{"ew-host-code"};
  std::unique_ptr<FunctionHost> host_;
};

TEST_P(RealHostTest, ColdShAndPython3FunctionsSucceed) {
  EXPECT_EQ(host_->RuntimeName(), GetParam());
  Install("hello-sh", Runtime::kSh, "main.sh",
          "read -r event\necho \"{\\\"fn\\\": \\\"$EW_FUNCTION\\\", \\\"mode\\\": \\\"$EW_MODE\\\", \\\"event\\\": $event}\"\n");
  Install("hello-py", Runtime::kPython3, "main.py",
          "import json, os, sys\nprint(json.dumps({'v': os.environ['EW_VERSION'], 'n': json.load(sys.stdin)['n'] * 2}))\n");
  auto sh = Call("hello-sh", R"({"n": 1})");
  ASSERT_TRUE(sh) << sh.error().message;
  EXPECT_EQ(sh->status, Status::kSucceeded) << sh->error << " " << sh->logs;
  EXPECT_EQ(sh->output, json::parse(R"({"fn": "hello-sh", "mode": "cold", "event": {"n": 1}})"));
  EXPECT_TRUE(sh->cold);
  EXPECT_EQ(sh->runtime, GetParam());
  std::cout << "[timing] " << GetParam() << " cold sh invocation through FunctionHost: "
            << sh->run_time.count() / 1000.0 << " ms\n";
  auto py = Call("hello-py", R"({"n": 21})");
  ASSERT_TRUE(py) << py.error().message;
  EXPECT_EQ(py->status, Status::kSucceeded) << py->error << " " << py->logs;
  EXPECT_EQ(py->output, json::parse(R"({"v": "1.0.0", "n": 42})"));
}

TEST_P(RealHostTest, FailuresAreResults) {
  Install("exit3", Runtime::kSh, "main.sh", "echo 'went wrong' >&2\nexit 3\n");
  Install("prose", Runtime::kSh, "main.sh", "echo hello world\n");
  Install("loop", Runtime::kSh, "main.sh", "while :; do :; done\n", [](FunctionSpec& s) { s.timeout = 500ms; });
  Install("flood", Runtime::kSh, "main.sh", "cat /dev/zero\n");

  auto exit3 = Call("exit3");
  ASSERT_TRUE(exit3) << exit3.error().message;
  EXPECT_EQ(exit3->status, Status::kFailed);
  EXPECT_EQ(exit3->error, "exit status 3");
  EXPECT_EQ(exit3->exit_code, 3);
  EXPECT_NE(exit3->logs.find("went wrong"), std::string::npos);

  auto prose = Call("prose");
  ASSERT_TRUE(prose);
  EXPECT_EQ(prose->error, "stdout is not JSON");

  auto loop = Call("loop");
  ASSERT_TRUE(loop);
  EXPECT_EQ(loop->status, Status::kTimedOut);
  EXPECT_LT(loop->run_time, std::chrono::microseconds(5s));

  auto flood = Call("flood");
  ASSERT_TRUE(flood);
  EXPECT_EQ(flood->status, Status::kFailed);
  EXPECT_EQ(flood->error, "output over 1 MiB");
}

TEST_P(RealHostTest, TwentyConcurrentInvocations) {
  Install("double", Runtime::kSh, "main.sh", "read -r n\necho \"{\\\"n\\\": $((n * 2))}\"\n",
          [](FunctionSpec& s) { s.max_concurrency = 20; });
  std::mutex mutex;
  std::condition_variable cv;
  std::map<int, Result<InvocationResult>> results;
  for (int i = 0; i < 20; ++i) {
    host_->Invoke("double", std::to_string(i), [&, i](Result<InvocationResult> r) {
      std::lock_guard<std::mutex> lock(mutex);
      results.emplace(i, std::move(r));
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mutex);
  ASSERT_TRUE(cv.wait_for(lock, 120s, [&] { return results.size() == 20; }));
  for (auto& [i, r] : results) {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, Status::kSucceeded) << r->error << " " << r->logs;
    EXPECT_EQ(r->output["n"], i * 2);
  }
}

TEST_P(RealHostTest, WarmInstanceIsReusedAndSurvivesACrash) {
  Install("warm", Runtime::kSh, "main.sh",
          "token=$(cat /proc/sys/kernel/random/uuid)\n"
          "while read -r line; do\n"
          "  case \"$line\" in *crash*) echo 'dying as asked' >&2; exit 3;; esac\n"
          "  echo \"{\\\"token\\\": \\\"$token\\\", \\\"mode\\\": \\\"$EW_MODE\\\"}\"\n"
          "done\n",
          [](FunctionSpec& s) { s.warm.enabled = true; });
  auto first = Call("warm");
  auto second = Call("warm");
  ASSERT_TRUE(first && second);
  ASSERT_EQ(first->status, Status::kSucceeded) << first->error << " " << first->logs;
  ASSERT_EQ(second->status, Status::kSucceeded) << second->error;
  EXPECT_EQ(first->output["token"], second->output["token"]);
  EXPECT_EQ(first->output["mode"], "warm");
  EXPECT_TRUE(first->cold);
  EXPECT_FALSE(second->cold);
  std::cout << "[timing] " << GetParam() << " warm sh invocation: " << second->run_time.count() / 1000.0 << " ms\n";

  auto crash = Call("warm", R"({"crash": true})");
  ASSERT_TRUE(crash);
  EXPECT_EQ(crash->status, Status::kFailed);
  EXPECT_NE(crash->error.find("dying as asked"), std::string::npos) << crash->error;

  auto after = Call("warm");
  ASSERT_TRUE(after);
  ASSERT_EQ(after->status, Status::kSucceeded) << after->error;
  EXPECT_NE(after->output["token"], first->output["token"]);
  EXPECT_EQ(host_->List()[0].warm_instances, 1u);
}

TEST_P(RealHostTest, WarmPythonAnswersLineByLine) {
  Install("warm-py", Runtime::kPython3, "main.py",
          "import json, sys\n"
          "for line in sys.stdin:\n"
          "    print(json.dumps({'got': json.loads(line)}))\n",
          [](FunctionSpec& s) { s.warm.enabled = true; });
  for (int i = 0; i < 3; ++i) {
    auto r = Call("warm-py", "{\"i\": " + std::to_string(i) + "}");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->status, Status::kSucceeded) << r->error << " " << r->logs;
    EXPECT_EQ(r->output["got"]["i"], i);
  }
}

TEST_P(RealHostTest, DestroyingTheHostStopsAWarmCallStuckOnARequest) {
  auto marker = testing::UniqueMarker("host-stuck");
  // Only the shell handling a request carries the marker (as its $0); "; :" keeps it from
  // exec'ing sleep, which would drop it.
  Install("stuck", Runtime::kSh, "main.sh", "while read -r line; do sh -c 'sleep 60; :' " + marker + "; done\n",
          [](FunctionSpec& s) {
            s.warm.enabled = true;
            s.timeout = 120s;
          });
  std::promise<Result<InvocationResult>> promise;
  auto future = promise.get_future();
  host_->Invoke("stuck", "{}", [&promise](Result<InvocationResult> r) { promise.set_value(std::move(r)); });
  // Wait until the instance is stuck on our request. (Destroying the host earlier, while the
  // instance starts, is WarmPoolTest's and WarmHostTest's forced interleaving.)
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (testing::ProcessesWithMarker(marker).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // polling /proc
  }
  bool stuck = !testing::ProcessesWithMarker(marker).empty();
  auto started = std::chrono::steady_clock::now();
  host_.reset();  // also when not stuck: the call's callback refers to `promise`
  ASSERT_TRUE(stuck) << "the warm instance never got the request";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  EXPECT_EQ(testing::ProcessesWithMarker(marker), std::vector<int>{});
  ASSERT_EQ(future.wait_for(0s), std::future_status::ready);
  auto result = future.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kCancelled);
}

INSTANTIATE_TEST_SUITE_P(Runtimes, RealHostTest, ::testing::Values("runc", "bwrap", "crun"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace ew::containers
