// Real containers, parameterised over every runtime: the sandbox (read-only /usr, hidden host
// files, no network unless asked, non-root, no capabilities, seccomp), the invocation contract
// (exit codes, stderr, timeouts, output caps) and warm instances. A runtime that is not
// installed is skipped; crun is skipped where it cannot run (hybrid cgroups); runc and bwrap
// must work where installed.
#include "containers/runtime/container_runtime.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ProcessesWithMarker;
using testing::TempDir;
using testing::UniqueMarker;
using testing::WriteFile;

// Not 65534: RLIMIT_NPROC counts per uid, and other tests on this host run functions as nobody.
constexpr uint32_t kFunctionUid = 60100;

constexpr const char* kWarmSh =
    "token=$(cat /proc/sys/kernel/random/uuid)\n"
    "while read -r line; do\n"
    "  case \"$line\" in\n"
    "    *crash*) echo 'crashing on request' >&2; exit 3;;\n"
    "    *sleep*) sleep 30;;\n"
    "  esac\n"
    "  echo \"request $line\" >&2\n"
    "  echo \"{\\\"token\\\": \\\"$token\\\", \\\"got\\\": $line, \\\"mode\\\": \\\"$EW_MODE\\\"}\"\n"
    "done\n";

class RealRuntimeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto real = testing::MakeRealRuntime(GetParam(), work_.path() / "containers", kFunctionUid);
    if (!real.skip.empty()) GTEST_SKIP() << real.skip;
    ASSERT_TRUE(real.runtime) << real.failure;
    runtime_ = std::move(real.runtime);
    ASSERT_EQ(runtime_->Name(), GetParam());
  }

  void TearDown() override {
    if (!runtime_) return;
    // Every bundle is removed once its container is gone.
    auto bundles = work_.path() / "containers" / "bundles";
    if (std::filesystem::exists(bundles)) {
      EXPECT_TRUE(std::filesystem::is_empty(bundles));
    }
  }

  ContainerSpec Spec(std::vector<std::string> argv) {
    ContainerSpec spec;
    spec.id = "t-" + std::to_string(getpid()) + "-" + std::to_string(++ids_);
    spec.code_dir = code_.path();
    spec.argv = std::move(argv);
    spec.env = {"EW_FUNCTION=test"};
    return spec;
  }

  RunOutput RunOk(const ContainerSpec& spec, std::string_view input = "", RunLimits limits = {}) {
    auto out = runtime_->Run(spec, input, limits);
    EXPECT_TRUE(out) << out.error().message;
    return out ? *out : RunOutput{};
  }

  // A warm instance of kWarmSh that has answered one request, its command line carrying `marker`
  // (for ProcessesWithMarker); null after a failure (recorded).
  std::unique_ptr<ContainerProcess> StartWarm(const std::string& marker) {
    WriteFile(code_ / "warm.sh", kWarmSh);
    auto started = runtime_->Start(Spec({"/bin/sh", "/fn/warm.sh", marker}));
    EXPECT_TRUE(started) << started.error().message;
    if (!started) return nullptr;
    auto first = (*started)->Exchange(R"({"n": 1})", 10s, 1 << 20, nullptr);
    EXPECT_TRUE(first) << first.error().message;
    return first ? std::move(*started) : nullptr;
  }

  TempDir work_{"ew-rt-work"};
  TempDir code_{"ew-rt-code"};
  std::unique_ptr<ContainerRuntime> runtime_;
  int ids_ = 0;
};

TEST_P(RealRuntimeTest, HelloInShReadsTheEventAndReportsWallTime) {
  WriteFile(code_ / "main.sh", "read -r event\necho \"{\\\"hello\\\": $event, \\\"fn\\\": \\\"$EW_FUNCTION\\\"}\"\n");
  std::vector<double> walls;
  for (int i = 0; i < 5; ++i) {
    auto out = RunOk(Spec({"/bin/sh", "/fn/main.sh"}), "{\"x\": 1}\n");
    ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
    EXPECT_FALSE(out.timed_out);
    EXPECT_EQ(json::parse(out.stdout_data), json::parse(R"({"hello": {"x": 1}, "fn": "test"})"));
    walls.push_back(out.wall.count() / 1000.0);
  }
  std::sort(walls.begin(), walls.end());
  std::cout << "[timing] " << GetParam() << " cold Run() of a trivial sh function: median " << walls[2]
            << " ms (min " << walls.front() << ", max " << walls.back() << ")\n";
}

TEST_P(RealRuntimeTest, HelloInPython3) {
  WriteFile(code_ / "main.py",
            "import json, os, sys\n"
            "event = json.load(sys.stdin)\n"
            "print(json.dumps({'sum': event['a'] + event['b'], 'home': os.environ['HOME']}))\n");
  auto out = RunOk(Spec({"/usr/bin/python3", "/fn/main.py"}), R"({"a": 2, "b": 40})");
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  EXPECT_EQ(json::parse(out.stdout_data), json::parse(R"({"sum": 42, "home": "/tmp"})"));
}

TEST_P(RealRuntimeTest, HelloNativeBinaryFromTheCodeDir) {
  std::filesystem::copy_file("/usr/bin/echo", code_ / "hello");
  chmod((code_ / "hello").c_str(), 0755);
  auto out = RunOk(Spec({"/fn/hello", R"({"native": true})"}));
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  EXPECT_EQ(json::parse(out.stdout_data), json::parse(R"({"native": true})"));
}

TEST_P(RealRuntimeTest, CodeDirInsideAPrivateDirectoryIsReachable) {
  // The agent keeps packages under a 0700 state directory that the function's uid cannot enter.
  TempDir state("ew-rt-state");
  chmod(state.path().c_str(), 0700);
  WriteFile(state / "fn" / "main.sh", "echo '{\"ok\": true}'\n");
  chmod((state / "fn").c_str(), 0755);
  auto spec = Spec({"/bin/sh", "/fn/main.sh"});
  spec.code_dir = state / "fn";
  auto out = RunOk(spec);
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  EXPECT_EQ(json::parse(out.stdout_data), json::parse(R"({"ok": true})"));
}

TEST_P(RealRuntimeTest, NonZeroExitKeepsStderr) {
  WriteFile(code_ / "fail.sh", "echo 'something broke' >&2\nexit 3\n");
  auto out = RunOk(Spec({"/bin/sh", "/fn/fail.sh"}));
  EXPECT_EQ(out.exit_code, 3);
  EXPECT_NE(out.stderr_data.find("something broke"), std::string::npos) << out.stderr_data;
}

TEST_P(RealRuntimeTest, InfiniteLoopIsKilledAtTimeoutWithNoProcessLeft) {
  auto marker = UniqueMarker("loop");
  WriteFile(code_ / "loop.sh", "( while :; do sleep 1; done ) &\nwhile :; do :; done\n");
  RunLimits limits;
  limits.timeout = 1000ms;
  auto started = std::chrono::steady_clock::now();
  auto out = RunOk(Spec({"/bin/sh", "/fn/loop.sh", marker}), "", limits);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(out.timed_out);
  EXPECT_EQ(out.exit_code, 128 + SIGKILL);
  EXPECT_GE(took, 1000ms);
  EXPECT_LT(took, 6000ms);
  EXPECT_EQ(ProcessesWithMarker(marker), std::vector<int>{});
}

TEST_P(RealRuntimeTest, ForkBombIsHeldByThePidsLimitAndKilledAtTimeout) {
  auto marker = UniqueMarker("bomb");
  // The bomb goes off in a background subshell: the main shell, which must outlive it until
  // the timeout, never forks again (a refused fork would end it).
  WriteFile(code_ / "bomb.sh", "bomb() { bomb | bomb & }\n( bomb ) &\nwhile :; do :; done\n");
  auto spec = Spec({"/bin/sh", "/fn/bomb.sh", marker});
  spec.pids_limit = 32;
  RunLimits limits;
  limits.timeout = 2000ms;
  std::atomic<bool> running{true};
  size_t most = 0;
  std::thread watcher([&] {
    while (running) {
      most = std::max(most, ProcessesWithMarker(marker).size());
      std::this_thread::sleep_for(20ms);  // sampling, not synchronisation
    }
  });
  auto out = RunOk(spec, "", limits);
  running = false;
  watcher.join();
  EXPECT_TRUE(out.timed_out) << "exit " << out.exit_code << ": " << out.stderr_data.substr(0, 2000);
  // The limit counts the runtime's own processes that carry the marker (bwrap and its pid 1).
  EXPECT_LE(most, spec.pids_limit + 2u);
  // The bomb did run into the limit (the shell reports the refused forks).
  EXPECT_NE(out.stderr_data.find("Cannot fork"), std::string::npos) << out.stderr_data.substr(0, 2000);
  EXPECT_EQ(ProcessesWithMarker(marker), std::vector<int>{});
}

TEST_P(RealRuntimeTest, RootAndUsrAreReadOnlyAndTmpIsWritable) {
  WriteFile(code_ / "rw.sh",
            "touch /usr/ew-test 2>&1 || echo usr-denied\n"
            "touch /ew-test 2>&1 || echo root-denied\n"
            "touch /fn/ew-test 2>&1 || echo fn-denied\n"
            "echo hi > /tmp/x && cat /tmp/x; ls -ld /tmp; mount | grep tmp\n");
  SCOPED_TRACE(GetParam());
  auto out = RunOk(Spec({"/bin/sh", "/fn/rw.sh"}));
  EXPECT_NE(out.stdout_data.find("usr-denied"), std::string::npos) << out.stdout_data;
  EXPECT_NE(out.stdout_data.find("root-denied"), std::string::npos) << out.stdout_data;
  EXPECT_NE(out.stdout_data.find("fn-denied"), std::string::npos) << out.stdout_data;
  EXPECT_NE(out.stdout_data.find("Read-only file system"), std::string::npos) << out.stdout_data;
  EXPECT_NE(out.stdout_data.find("hi"), std::string::npos) << out.stdout_data << out.stderr_data;
  EXPECT_FALSE(std::filesystem::exists("/usr/ew-test"));
}

class ListeningSocket {
 public:
  ListeningSocket() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~ListeningSocket() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

constexpr const char* kConnectPy =
    "import json, socket, sys\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2).close()\n"
    "    print(json.dumps({'connected': True}))\n"
    "except OSError as e:\n"
    "    print(json.dumps({'connected': False, 'error': str(e)}))\n";

TEST_P(RealRuntimeTest, NoNetworkUnlessAsked) {
  ListeningSocket server;
  WriteFile(code_ / "connect.py", kConnectPy);
  auto out = RunOk(Spec({"/usr/bin/python3", "/fn/connect.py", std::to_string(server.port())}));
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  EXPECT_EQ(json::parse(out.stdout_data)["connected"], false) << out.stdout_data;
}

TEST_P(RealRuntimeTest, NetworkFlagSharesTheHostNetwork) {
  ListeningSocket server;
  WriteFile(code_ / "connect.py", kConnectPy);
  auto spec = Spec({"/usr/bin/python3", "/fn/connect.py", std::to_string(server.port())});
  spec.network = true;
  auto out = RunOk(spec);
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  EXPECT_EQ(json::parse(out.stdout_data)["connected"], true) << out.stdout_data;
}

TEST_P(RealRuntimeTest, HostFilesAreHiddenAndTheProcessIsUnprivileged) {
  TempDir secrets("ew-rt-secret");
  WriteFile(secrets / "secret", "TOPSECRET\n");
  WriteFile(code_ / "probe.sh",
            "cat " + (secrets / "secret").string() + " 2>/dev/null\n"
            "test -e /etc/passwd && echo passwd-visible\n"
            "test -e /etc/edgewire && echo edgewire-visible\n"
            "echo uid=$(id -u) gid=$(id -g)\n"
            "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status\n"
            "unshare -U true 2>&1 || echo unshare-denied\n");
  auto out = RunOk(Spec({"/bin/sh", "/fn/probe.sh"}));
  const auto& text = out.stdout_data;
  EXPECT_EQ(text.find("TOPSECRET"), std::string::npos) << text;
  EXPECT_EQ(text.find("passwd-visible"), std::string::npos) << text;
  EXPECT_EQ(text.find("edgewire-visible"), std::string::npos) << text;
  // Rootless, runc/crun run the function as root of its user namespace (= our uid outside).
  bool rootless_oci = geteuid() != 0 && GetParam() != "bwrap";
  if (rootless_oci) {
    EXPECT_NE(text.find("uid=0 gid=0"), std::string::npos) << text;
  } else if (geteuid() == 0) {
    // As root, a uid of the range, the gid of the same number.
    auto at = text.find("uid=");
    ASSERT_NE(at, std::string::npos) << text;
    uint32_t uid = static_cast<uint32_t>(std::stoul(text.substr(at + 4)));
    EXPECT_GE(uid, RuntimeConfig{}.uid_first) << text;
    EXPECT_LT(uid, RuntimeConfig{}.uid_first + RuntimeConfig{}.uid_count) << text;
    EXPECT_NE(text.find("gid=" + std::to_string(uid)), std::string::npos) << text;
  } else {
    EXPECT_NE(text.find("uid=60100 gid=60100"), std::string::npos) << text;
  }
  EXPECT_NE(text.find("CapEff:\t0000000000000000"), std::string::npos) << text;
  EXPECT_NE(text.find("CapBnd:\t0000000000000000"), std::string::npos) << text;
  EXPECT_NE(text.find("NoNewPrivs:\t1"), std::string::npos) << text;
  EXPECT_NE(text.find("Seccomp:\t2"), std::string::npos) << text;
  EXPECT_NE(text.find("unshare-denied"), std::string::npos) << text;
  EXPECT_NE(text.find("Operation not permitted"), std::string::npos) << text;
}

TEST_P(RealRuntimeTest, TwentyConcurrentRunsEachGetTheirOwnAnswer) {
  WriteFile(code_ / "echo.sh", "read -r n\necho \"{\\\"n\\\": $n}\"\n");
  std::vector<std::thread> threads;
  std::vector<int> answers(20, -1);
  std::vector<std::string> errors(20);
  for (int i = 0; i < 20; ++i) {
    auto spec = Spec({"/bin/sh", "/fn/echo.sh"});
    threads.emplace_back([this, i, spec, &answers, &errors] {
      auto out = runtime_->Run(spec, std::to_string(i) + "\n", RunLimits{});
      if (!out) {
        errors[i] = out.error().message;
      } else if (out->exit_code != 0) {
        errors[i] = "exit " + std::to_string(out->exit_code) + ": " + out->stderr_data;
      } else {
        answers[i] = json::parse(out->stdout_data)["n"].get<int>();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(answers[i], i) << errors[i];
}

TEST_P(RealRuntimeTest, StdoutOverTheCapKillsTheContainer) {
  auto marker = UniqueMarker("flood");
  WriteFile(code_ / "flood.sh", "cat /dev/zero\n");
  RunLimits limits;
  limits.timeout = 20s;
  auto started = std::chrono::steady_clock::now();
  auto out = RunOk(Spec({"/bin/sh", "/fn/flood.sh", marker}), "", limits);
  EXPECT_TRUE(out.stdout_truncated);
  EXPECT_FALSE(out.timed_out);
  EXPECT_EQ(out.stdout_data.size(), limits.max_stdout_bytes);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_EQ(ProcessesWithMarker(marker), std::vector<int>{});
}

TEST_P(RealRuntimeTest, LargeInputIsDeliveredWhole) {
  WriteFile(code_ / "count.sh", "n=$(wc -c)\necho \"{\\\"bytes\\\": $n}\"\n");
  std::string input(900 * 1024, 'x');
  auto out = RunOk(Spec({"/bin/sh", "/fn/count.sh"}), input);
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  EXPECT_EQ(json::parse(out.stdout_data)["bytes"], input.size());
}

TEST_P(RealRuntimeTest, MissingEntrypointIsReported) {
  auto out = runtime_->Run(Spec({"/fn/does-not-exist"}), "", RunLimits{});
  // runc/crun fail before the function runs (a runtime error); bwrap's exec fails in the sandbox.
  if (out) {
    EXPECT_NE(out->exit_code, 0);
    EXPECT_NE(out->stderr_data.find("does-not-exist"), std::string::npos) << out->stderr_data;
  } else {
    EXPECT_NE(out.error().message.find("does-not-exist"), std::string::npos) << out.error().message;
  }
}

TEST_P(RealRuntimeTest, CgroupMemoryLimitHoldsWhereAvailable) {
  if (GetParam() == "bwrap") GTEST_SKIP() << "bwrap sets no cgroup limits";
  if (geteuid() != 0) GTEST_SKIP() << "rootless: cgroup limits only with a delegated cgroup v2 tree";
  WriteFile(code_ / "hog.py", "a = bytearray(512 << 20)\nprint('{}')\n");
  auto spec = Spec({"/usr/bin/python3", "/fn/hog.py"});
  spec.memory_bytes = 32ull << 20;
  auto out = RunOk(spec);
  EXPECT_NE(out.exit_code, 0) << out.stdout_data;
}


TEST_P(RealRuntimeTest, WarmInstanceServesManyRequestsThenReportsItsCrash) {
  WriteFile(code_ / "warm.sh", kWarmSh);
  auto spec = Spec({"/bin/sh", "/fn/warm.sh"});
  spec.env.push_back("EW_MODE=warm");
  auto started = runtime_->Start(spec);
  ASSERT_TRUE(started) << started.error().message;
  auto& process = **started;
  auto first = process.Exchange(R"({"n": 1})", 10s, 1 << 20, nullptr);
  ASSERT_TRUE(first) << first.error().message << " logs: " << process.TakeLogs();
  auto second = process.Exchange(R"({"n": 2})", 10s, 1 << 20, nullptr);
  ASSERT_TRUE(second) << second.error().message;
  auto a = json::parse(*first), b = json::parse(*second);
  EXPECT_EQ(a["token"], b["token"]);
  EXPECT_EQ(a["got"]["n"], 1);
  EXPECT_EQ(b["got"]["n"], 2);
  EXPECT_EQ(b["mode"], "warm");
  // runc relays stdout and stderr separately, so a request's stderr may trail its answer.
  auto logs = process.TakeLogs();
  EXPECT_TRUE(process.IsAlive());

  auto crashed = process.Exchange(R"({"crash": true})", 10s, 1 << 20, nullptr);
  ASSERT_FALSE(crashed);
  EXPECT_EQ(crashed.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(crashed.error().message.find("crashing on request"), std::string::npos) << crashed.error().message;
  EXPECT_FALSE(process.IsAlive());
  logs += process.TakeLogs();
  EXPECT_NE(logs.find("request {\"n\": 1}\nrequest {\"n\": 2}\n"), std::string::npos) << logs;
  auto after = process.Exchange(R"({"n": 3})", 1s, 1 << 20, nullptr);
  EXPECT_FALSE(after);
}

TEST_P(RealRuntimeTest, WarmInstanceThatDoesNotAnswerIsKilled) {
  auto marker = UniqueMarker("warm-sleep");
  auto started = StartWarm(marker);
  ASSERT_TRUE(started);
  auto answer = started->Exchange(R"({"sleep": true})", 500ms, 1 << 20, nullptr);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_FALSE(started->IsAlive());
  EXPECT_EQ(ProcessesWithMarker(marker), std::vector<int>{});
}

TEST_P(RealRuntimeTest, WarmInstanceWhoseCallerGivesUpIsKilled) {
  auto marker = UniqueMarker("warm-cancel");
  auto started = StartWarm(marker);
  ASSERT_TRUE(started);
  std::atomic<bool> cancel{false};
  std::thread giver_up([&] {
    std::this_thread::sleep_for(300ms);
    cancel = true;
  });
  const auto begun = std::chrono::steady_clock::now();
  auto answer = started->Exchange(R"({"sleep": true})", 60s, 1 << 20, &cancel);
  const auto took = std::chrono::steady_clock::now() - begun;
  giver_up.join();
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::kCancelled) << answer.error().message;
  EXPECT_LT(took, 10s);  // not its 60 s timeout, nor the script's 30 s sleep
  EXPECT_FALSE(started->IsAlive());
  EXPECT_EQ(ProcessesWithMarker(marker), std::vector<int>{});
  // A flag already set fails the call before its line is written, and the instance, which saw
  // nothing, lives on to serve the next.
  auto again = StartWarm(marker);
  ASSERT_TRUE(again);
  auto refused = again->Exchange(R"({"n": 2})", 10s, 1 << 20, &cancel);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kCancelled);
  EXPECT_TRUE(again->IsAlive());
  auto served = again->Exchange(R"({"n": 3})", 10s, 1 << 20, nullptr);
  ASSERT_TRUE(served) << served.error().message;
  EXPECT_EQ(json::parse(*served)["got"]["n"], 3);
}

// A function that answers a request with two lines is out of step: its second line would answer
// the next caller. The first answer stands, and the instance is not used again. (Both lines in
// one write, so that they are read together; output that trails is PipeContainerProcessTest's.)
TEST_P(RealRuntimeTest, WarmInstanceOutOfStepIsNotUsedAgain) {
  auto marker = UniqueMarker("warm-twice");
  WriteFile(code_ / "twice.sh",
            "while read -r line; do printf '{\"answer\": 1}\\n{\"extra\": 2}\\n'; done\n");
  auto started = runtime_->Start(Spec({"/bin/sh", "/fn/twice.sh", marker}));
  ASSERT_TRUE(started) << started.error().message;
  auto first = (*started)->Exchange("{}", 10s, 1 << 20, nullptr);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(json::parse(*first)["answer"], 1);
  auto second = (*started)->Exchange("{}", 10s, 1 << 20, nullptr);
  ASSERT_FALSE(second) << "answered with the previous request's extra line: " << *second;
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE((*started)->IsAlive());
  EXPECT_EQ(ProcessesWithMarker(marker), std::vector<int>{});
}

TEST_P(RealRuntimeTest, DestroyingAWarmInstanceKillsIt) {
  auto marker = UniqueMarker("warm-drop");
  auto started = StartWarm(marker);
  ASSERT_TRUE(started);
  EXPECT_FALSE(ProcessesWithMarker(marker).empty());
  started.reset();
  EXPECT_EQ(ProcessesWithMarker(marker), std::vector<int>{});
}

TEST_P(RealRuntimeTest, WarmAnswerOverTheCapIsRefused) {
  WriteFile(code_ / "big.sh", "while read -r line; do head -c 5000 /dev/zero | tr '\\0' x; echo; done\n");
  auto started = runtime_->Start(Spec({"/bin/sh", "/fn/big.sh"}));
  ASSERT_TRUE(started) << started.error().message;
  auto answer = (*started)->Exchange("{}", 10s, 1000, nullptr);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::kResourceExhausted);
  EXPECT_FALSE((*started)->IsAlive());
}

TEST_P(RealRuntimeTest, CancelFlagKillsARunningContainer) {
  auto marker = UniqueMarker("cancel");
  WriteFile(code_ / "loop.sh", "while :; do sleep 1; done\n");
  std::atomic<bool> cancel{false};
  RunLimits limits;
  limits.timeout = 60s;
  limits.cancel = &cancel;
  std::thread canceller([&] {
    // Waits until the container runs, then cancels.
    while (ProcessesWithMarker(marker).size() < 1) std::this_thread::sleep_for(10ms);
    cancel = true;
  });
  auto started = std::chrono::steady_clock::now();
  auto out = RunOk(Spec({"/bin/sh", "/fn/loop.sh", marker}), "", limits);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
  EXPECT_FALSE(out.timed_out);
  EXPECT_NE(out.exit_code, 0);
  EXPECT_EQ(ProcessesWithMarker(marker), std::vector<int>{});
}

INSTANTIATE_TEST_SUITE_P(Runtimes, RealRuntimeTest, ::testing::Values("runc", "bwrap", "crun"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Issue 15: "auto" takes the cheapest runtime only when it gives up no limit. bwrap first where
// its Limits() leave nothing unenforced; with cgroups off it would lack the CPU quota, so an OCI
// runtime that has one comes first.
TEST(RuntimeChoiceTest, AutoPrefersBwrapOnlyWhenItEnforcesEveryLimit) {
  TempDir work("ew-rt-choice");
  auto forced = testing::MakeRealRuntime("bwrap", work / "forced", kFunctionUid);
  if (!forced.skip.empty()) GTEST_SKIP() << forced.skip;
  ASSERT_TRUE(forced.runtime) << forced.failure;
  const auto bwrap_missing = Unenforced(forced.runtime->Limits());
  forced.runtime.reset();

  RuntimeConfig config;
  config.work_dir = work / "auto";
  config.uid = config.gid = kFunctionUid;
  auto chosen = MakeContainerRuntime(config);
  ASSERT_TRUE(chosen) << chosen.error().message;
  if (bwrap_missing.empty()) {
    EXPECT_EQ((*chosen)->Name(), "bwrap");
    EXPECT_TRUE(Unenforced((*chosen)->Limits()).empty());
  } else {
    EXPECT_NE((*chosen)->Name(), "bwrap") << "bwrap lacks a limit here and an OCI runtime works";
  }
  chosen->reset();

  // Without cgroups bwrap holds CPU by RLIMIT_CPU only (not a rate: unenforced): runc, which
  // makes its own cgroups, is preferred, unless it cannot either.
  RuntimeConfig off = config;
  off.work_dir = work / "off";
  off.cgroups = "off";
  auto fallback = MakeContainerRuntime(off);
  ASSERT_TRUE(fallback) << fallback.error().message;
  auto runc = testing::MakeRealRuntime("runc", work / "runc", kFunctionUid);
  if (runc.runtime && Unenforced(runc.runtime->Limits()).empty()) {
    EXPECT_NE((*fallback)->Name(), "bwrap");
    EXPECT_TRUE(Unenforced((*fallback)->Limits()).empty());
  }
  // A forced runtime is kept whatever it costs.
  RuntimeConfig runc_only = config;
  runc_only.work_dir = work / "runc-only";
  runc_only.preferred = "runc";
  if (runc.runtime) {
    auto kept = MakeContainerRuntime(runc_only);
    ASSERT_TRUE(kept) << kept.error().message;
    EXPECT_EQ((*kept)->Name(), "runc");
  }
}

}  // namespace
}  // namespace ew::containers
