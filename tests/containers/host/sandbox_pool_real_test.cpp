// The sandbox pool over real bwrap sandboxes (issue 15): an invocation served from the pool
// runs as a new process in a sandbox nobody used before (its /tmp empty, the event whole on
// stdin), with the isolation of a sandbox made for it (no network unless declared, a uid of its
// own, no capabilities, no_new_privs, seccomp); no sandbox serves two invocations, even in a
// burst; none is left behind by the host's shutdown.
#include <unistd.h>

#include <future>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "containers/host/function_host.hpp"
#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Status = InvocationResult::Status;

constexpr uint32_t kFunctionUid = 60210;

// Reports what the sandbox looks like from inside, then leaves a file in /tmp (which a reused
// sandbox would show to the next invocation). printf, not dash's echo, which would expand the
// event's backslashes.
const char* const kProbe = R"SH(read -r event
tmp=$(ls -A /tmp | tr '\n' ' ')
: > /tmp/used-by-an-invocation
ifaces=$(sed -n '3,$p' /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')
capeff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/$$/status)
nnp=$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' /proc/$$/status)
seccomp=$(sed -n 's/^Seccomp:[[:space:]]*//p' /proc/$$/status)
cmdline=$(tr '\0' ' ' < /proc/$$/cmdline)
printf '{"event": %s, "tmp": "%s", "ifaces": "%s", "uid": %s, "capeff": "%s", "nnp": "%s", "seccomp": "%s", "cmdline": "%s"}\n' \
  "$event" "$tmp" "$ifaces" "$(id -u)" "$capeff" "$nnp" "$seccomp" "$cmdline"
)SH";

class SandboxPoolRealTest : public ::testing::Test {
 protected:
  std::unique_ptr<FunctionHost> MakeHost(size_t pool) {
    auto real = testing::MakeRealRuntime("bwrap", work_.path() / ("containers-" + std::to_string(++hosts_)), kFunctionUid);
    if (!real.skip.empty()) {
      skip_ = real.skip;
      return nullptr;
    }
    EXPECT_TRUE(real.runtime) << real.failure;
    if (!real.runtime) return nullptr;
    if (!real.runtime->CanPrepare()) {
      skip_ = "bwrap makes no cgroups on this host: sandboxes are not prepared ahead";
      return nullptr;
    }
    HostConfig config;
    config.sandbox_pool = pool;
    return std::make_unique<FunctionHost>(config, std::move(real.runtime));
  }

  FunctionSpec Install(FunctionHost& host, const std::string& key, const std::string& entry = "main.sh",
                       std::function<void(FunctionSpec&)> tweak = nullptr) {
    FunctionSpec spec;
    spec.name = key;
    spec.version = "1.0.0";
    spec.runtime = Runtime::kSh;
    spec.entrypoint = entry;
    spec.timeout = 20s;
    spec.max_concurrency = 32;
    if (tweak) tweak(spec);
    testing::WriteFile(code_ / key / entry, kProbe);
    auto installed = host.Install(key, spec, code_ / key);
    EXPECT_TRUE(installed) << installed.error().message;
    return spec;
  }

  static Result<InvocationResult> Call(FunctionHost& host, const std::string& key, const std::string& event) {
    std::promise<Result<InvocationResult>> promise;
    auto future = promise.get_future();
    host.Invoke(key, event, [&promise](Result<InvocationResult> r) { promise.set_value(std::move(r)); });
    if (future.wait_for(60s) != std::future_status::ready) return Internal("no answer within 60 s");
    return future.get();
  }

  static size_t Ready(FunctionHost& host, const std::string& key) {
    for (const auto& f : host.List()) {
      if (f.key == key) return f.ready_sandboxes;
    }
    return 0;
  }
  static bool WaitReady(FunctionHost& host, const std::string& key, size_t n) {
    for (int i = 0; i < 3000; ++i) {
      if (Ready(host, key) == n) return true;
      std::this_thread::sleep_for(10ms);  // bwrap sets sandboxes up on the host's own thread
    }
    return false;
  }

  // The isolation a sandbox shows from inside, whichever way it was made.
  static void ExpectIsolated(const json& out, bool network) {
    if (network) {
      EXPECT_NE(out["ifaces"].get<std::string>(), "lo ") << "a networked function sees the host's interfaces";
    } else {
      EXPECT_EQ(out["ifaces"], "lo ") << "no network unless declared";
    }
    EXPECT_NE(out["uid"], 0);
    if (geteuid() == 0) {
      EXPECT_GE(out["uid"].get<int64_t>(), 1'000'000) << "as root: a uid of the container's own";
    } else {
      EXPECT_EQ(out["uid"], kFunctionUid);
    }
    EXPECT_EQ(out["capeff"], "0000000000000000");
    EXPECT_EQ(out["nnp"], "1");
    EXPECT_EQ(out["seccomp"], "2");
  }

  testing::TempDir work_{"ew-pool-real-work"};
  testing::TempDir code_{"ew-pool-real-code"};
  std::string skip_;
  int hosts_ = 0;
};

TEST_F(SandboxPoolRealTest, EachPooledInvocationGetsANewProcessAnEmptyTmpAndTheSameIsolation) {
  auto pooled = MakeHost(2);
  if (!skip_.empty()) GTEST_SKIP() << skip_;
  ASSERT_TRUE(pooled);
  auto plain = MakeHost(0);
  ASSERT_TRUE(plain);
  Install(*pooled, "probe");
  Install(*plain, "probe");
  ASSERT_TRUE(WaitReady(*pooled, "probe", 2));
  auto reference = Call(*plain, "probe", R"({"n": -1})");
  ASSERT_TRUE(reference) << reference.error().message;
  ASSERT_EQ(reference->status, Status::kSucceeded) << reference->error << " " << reference->logs;
  EXPECT_FALSE(reference->prepared);
  ExpectIsolated(reference->output, false);
  for (int i = 0; i < 5; ++i) {
    auto r = Call(*pooled, "probe", "{\"n\": " + std::to_string(i) + ", \"text\": \"a b\\nc\"}");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->status, Status::kSucceeded) << r->error << " " << r->logs;
    EXPECT_TRUE(r->cold);
    EXPECT_TRUE(r->prepared) << "invocation " << i;
    const json& out = r->output;
    // The gate took its line and nothing more: the event arrives whole.
    EXPECT_EQ(out["event"], json::parse("{\"n\": " + std::to_string(i) + ", \"text\": \"a b\\nc\"}"));
    EXPECT_EQ(out["tmp"], "") << "a /tmp someone else wrote to";
    // The gate is gone: the function's own argv runs (exec'd at the release).
    EXPECT_EQ(out["cmdline"], "/bin/sh /fn/main.sh ");
    ExpectIsolated(out, false);
    for (const char* same : {"ifaces", "capeff", "nnp", "seccomp", "cmdline"}) {
      EXPECT_EQ(out[same], reference->output[same]) << same << " differs from a sandbox made for its invocation";
    }
    ASSERT_TRUE(WaitReady(*pooled, "probe", 2));  // refilled once the function is idle
  }
}

TEST_F(SandboxPoolRealTest, ADeclaredNetworkIsThereInAPooledSandboxToo) {
  auto host = MakeHost(1);
  if (!skip_.empty()) GTEST_SKIP() << skip_;
  ASSERT_TRUE(host);
  Install(*host, "net", "main.sh", [](FunctionSpec& spec) { spec.network = true; });
  Install(*host, "nonet");
  ASSERT_TRUE(WaitReady(*host, "net", 1));
  ASSERT_TRUE(WaitReady(*host, "nonet", 1));
  auto net = Call(*host, "net", "{}");
  auto nonet = Call(*host, "nonet", "{}");
  ASSERT_TRUE(net && nonet);
  ASSERT_EQ(net->status, Status::kSucceeded) << net->error << " " << net->logs;
  ASSERT_EQ(nonet->status, Status::kSucceeded) << nonet->error << " " << nonet->logs;
  EXPECT_TRUE(net->prepared);
  EXPECT_TRUE(nonet->prepared);
  ExpectIsolated(net->output, true);
  ExpectIsolated(nonet->output, false);
}

TEST_F(SandboxPoolRealTest, InABurstNoSandboxServesTwoInvocations) {
  auto host = MakeHost(6);
  if (!skip_.empty()) GTEST_SKIP() << skip_;
  ASSERT_TRUE(host);
  Install(*host, "burst");
  ASSERT_TRUE(WaitReady(*host, "burst", 6));
  constexpr int kCalls = 20;
  std::vector<std::future<Result<InvocationResult>>> calls;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::async(std::launch::async, [&host, i] {
      return Call(*host, "burst", "{\"n\": " + std::to_string(i) + "}");
    }));
  }
  int prepared = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto r = calls[i].get();
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->status, Status::kSucceeded) << r->error << " " << r->logs;
    EXPECT_EQ(r->output["event"]["n"], i);
    EXPECT_EQ(r->output["tmp"], "") << "invocation " << i << " found another invocation's file in /tmp";
    prepared += r->prepared ? 1 : 0;
  }
  // The six made ahead, no more (no refill during the burst), no fewer.
  EXPECT_EQ(prepared, 6);
  ASSERT_TRUE(WaitReady(*host, "burst", 6));
}

TEST_F(SandboxPoolRealTest, APooledInvocationStillTimesOut) {
  auto host = MakeHost(1);
  if (!skip_.empty()) GTEST_SKIP() << skip_;
  ASSERT_TRUE(host);
  FunctionSpec spec;
  spec.name = "sleepy";
  spec.version = "1";
  spec.runtime = Runtime::kSh;
  spec.entrypoint = "main.sh";
  spec.timeout = 1s;
  testing::WriteFile(code_ / "sleepy" / "main.sh", "sleep 30\n");
  ASSERT_TRUE(host->Install("sleepy", spec, code_ / "sleepy"));
  ASSERT_TRUE(WaitReady(*host, "sleepy", 1));
  // Sandboxes wait longer than the timeout in the pool: the timeout counts from the release.
  std::this_thread::sleep_for(1200ms);
  auto r = Call(*host, "sleepy", "{}");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->prepared);
  EXPECT_EQ(r->status, Status::kTimedOut) << r->error << " " << r->logs;
  EXPECT_GE(r->run_time, 1s);
  EXPECT_LT(r->run_time, 10s);
}

TEST_F(SandboxPoolRealTest, ShutdownLeavesNoPreparedSandboxBehind) {
  auto host = MakeHost(3);
  if (!skip_.empty()) GTEST_SKIP() << skip_;
  ASSERT_TRUE(host);
  const std::string marker = testing::UniqueMarker("pool");
  Install(*host, "idle", marker + ".sh");
  ASSERT_TRUE(WaitReady(*host, "idle", 3));
  // bwrap and the gate name the entrypoint in their command lines.
  EXPECT_GE(testing::ProcessesWithMarker(marker).size(), 3u);
  host.reset();
  EXPECT_TRUE(testing::ProcessesWithMarker(marker).empty());
}

}  // namespace
}  // namespace ew::containers
