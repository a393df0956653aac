// Issue #11 (items 5 and 7): functions cannot starve their host or each other. With every real
// runtime here (runc; bwrap with its per-container cgroup and with rlimits only; crun where the
// host's cgroups let it run): memory, pids and CPU limits hold or are reported as not held,
// each container has a uid of its own, oom_score_adj is 1000, io_uring is denied, no zombie is
// left behind, and the container's mountinfo names no host path.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "containers/runtime/child_reaper.hpp"
#include "containers/runtime/container_runtime.hpp"
#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::TempDir;
using testing::WriteFile;

struct Variant {
  std::string runtime;  // "runc", "bwrap", "crun"
  std::string cgroups;  // RuntimeConfig::cgroups
  std::string name;     // test name suffix
};

void PrintTo(const Variant& variant, std::ostream* out) { *out << variant.name; }

// State letter ('Z' for a zombie) of every child of this process.
std::vector<std::pair<pid_t, char>> ChildStates() {
  std::vector<std::pair<pid_t, char>> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream children(task.path() / "children");
    for (pid_t pid; children >> pid;) {
      std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      auto paren = text.rfind(')');
      if (paren != std::string::npos && paren + 2 < text.size()) out.push_back({pid, text[paren + 2]});
    }
  }
  return out;
}

class IsolationTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    RuntimeConfig config;
    config.preferred = GetParam().runtime;
    config.work_dir = work_.path() / "containers";
    config.cgroups = GetParam().cgroups;
    auto runtime = MakeContainerRuntime(config);
    if (!runtime) {
      const auto& why = runtime.error().message;
      if (why.find("not installed") != std::string::npos || GetParam().runtime == "crun") {
        GTEST_SKIP() << GetParam().runtime << " unavailable here: " << why;
      }
      FAIL() << GetParam().runtime << " is installed but cannot run containers: " << why;
    }
    runtime_ = std::move(*runtime);
    limits_ = runtime_->Limits();
  }

  ContainerSpec Spec(std::vector<std::string> argv) {
    ContainerSpec spec;
    spec.id = "iso-" + std::to_string(getpid()) + "-" + std::to_string(++ids_);
    spec.code_dir = code_.path();
    spec.argv = std::move(argv);
    return spec;
  }

  RunOutput RunOk(const ContainerSpec& spec, std::string_view input = "", RunLimits limits = {}) {
    auto out = runtime_->Run(spec, input, limits);
    EXPECT_TRUE(out) << out.error().message;
    return out ? *out : RunOutput{};
  }

  TempDir work_{"ew-iso-work"};
  TempDir code_{"ew-iso-code"};
  std::unique_ptr<ContainerRuntime> runtime_;
  LimitSupport limits_;
  int ids_ = 0;
};

TEST_P(IsolationTest, LimitsAreReported) {
  std::cout << "[limits] " << GetParam().name << ": " << ToJson(limits_).dump() << "\n";
  // Every runtime here bounds memory and processes somehow; as root each container has its uid.
  EXPECT_FALSE(limits_.memory.empty());
  EXPECT_FALSE(limits_.pids.empty());
  if (geteuid() == 0) {
    EXPECT_FALSE(limits_.uid.empty());
  }
  if (GetParam().cgroups == "off") {
    EXPECT_TRUE(limits_.cpu.empty()) << "rlimits cannot hold a CPU rate";
    EXPECT_EQ(Unenforced(limits_), std::vector<std::string>{"cpu"});
  }
}

TEST_P(IsolationTest, TwoGibibytesWithMemoryMb32Fails) {
  WriteFile(code_ / "hog.py", "a = bytearray(2 << 30)\nprint('{\"allocated\": true}')\n");
  auto spec = Spec({"/usr/bin/python3", "/fn/hog.py"});
  spec.memory_bytes = 32ull << 20;
  auto out = RunOk(spec);
  EXPECT_NE(out.exit_code, 0) << out.stdout_data;
  EXPECT_EQ(out.stdout_data.find("allocated"), std::string::npos) << out.stdout_data;
  std::cout << "[memory] " << GetParam().name << ": exit " << out.exit_code << ", "
            << out.stderr_data.substr(out.stderr_data.size() > 200 ? out.stderr_data.size() - 200 : 0) << "\n";
}

TEST_P(IsolationTest, ForkBombIsContained) {
  WriteFile(code_ / "bomb.sh", "bomb() { bomb | bomb & }\n( bomb ) &\nsleep 2\necho '{}'\n");
  auto spec = Spec({"/bin/sh", "/fn/bomb.sh"});
  spec.pids_limit = 32;
  RunLimits limits;
  limits.timeout = 2500ms;
  auto out = RunOk(spec, "", limits);
  EXPECT_NE(out.stderr_data.find("fork"), std::string::npos) << out.stderr_data.substr(0, 500);
  // The host still forks.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
}

TEST_P(IsolationTest, CpuQuotaIsObservable) {
  if (limits_.cpu.empty()) GTEST_SKIP() << GetParam().name << " reports no CPU quota";
  // CPU seconds used in one second of wall time, spinning.
  WriteFile(code_ / "spin.py",
            "import json, time\n"
            "start = time.monotonic()\n"
            "while time.monotonic() - start < 1.0: pass\n"
            "print(json.dumps({'cpu': time.process_time()}))\n");
  auto spec = Spec({"/usr/bin/python3", "/fn/spin.py"});
  spec.cpus = 0.2;
  auto out = RunOk(spec);
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  double cpu = json::parse(out.stdout_data)["cpu"].get<double>();
  std::cout << "[cpu] " << GetParam().name << ": " << cpu << " CPU s in 1 s wall at cpus 0.2\n";
  EXPECT_LT(cpu, 0.5);
}

TEST_P(IsolationTest, OomScoreAdjIsMaximal) {
  WriteFile(code_ / "oom.sh", "echo \"{\\\"adj\\\": $(cat /proc/self/oom_score_adj)}\"\n");
  auto out = RunOk(Spec({"/bin/sh", "/fn/oom.sh"}));
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  EXPECT_EQ(json::parse(out.stdout_data)["adj"], 1000);
}

TEST_P(IsolationTest, IoUringIsDenied) {
  // io_uring_setup(1, params) = syscall 425 on every architecture that has it.
  WriteFile(code_ / "uring.py",
            "import ctypes, json\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "params = ctypes.create_string_buffer(120)\n"
            "rc = libc.syscall(425, 1, params)\n"
            "print(json.dumps({'rc': rc, 'errno': ctypes.get_errno()}))\n");
  auto out = RunOk(Spec({"/usr/bin/python3", "/fn/uring.py"}));
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  auto result = json::parse(out.stdout_data);
  EXPECT_EQ(result["rc"], -1) << out.stdout_data;
  EXPECT_TRUE(result["errno"] == EPERM || result["errno"] == ENOSYS) << out.stdout_data;
}

// A function holding ~60 processes (its pids_limit is 64) must not make another function's
// forks fail: each has its own uid, so RLIMIT_NPROC counts them apart (56 + 20 > 64: with one
// shared uid the second function's forks would be refused).
TEST_P(IsolationTest, ProcessesOfOneFunctionDoNotCountAgainstAnother) {
  WriteFile(code_ / "hold.sh",
            "i=0; while [ $i -lt 56 ]; do sleep 30 & i=$((i+1)); done\n"
            "read -r line; echo \"{\\\"uid\\\": $(id -u)}\"; read -r line\n");
  WriteFile(code_ / "fork.sh",
            "i=0; while [ $i -lt 20 ]; do sleep 5 & i=$((i+1)); done\n"
            "echo \"{\\\"uid\\\": $(id -u)}\"\n");
  auto holder = runtime_->Start(Spec({"/bin/sh", "/fn/hold.sh"}));
  ASSERT_TRUE(holder) << holder.error().message;
  auto held = (*holder)->Exchange("{}", 20s, 1 << 10, nullptr);
  ASSERT_TRUE(held) << held.error().message << (*holder)->TakeLogs();
  auto spec = Spec({"/bin/sh", "/fn/fork.sh"});
  RunLimits limits;
  limits.timeout = 20s;
  auto out = RunOk(spec, "", limits);
  EXPECT_EQ(out.exit_code, 0) << out.stderr_data;
  EXPECT_EQ(out.stderr_data.find("fork"), std::string::npos) << out.stderr_data;
  if (geteuid() == 0 && !limits_.uid.empty()) {
    EXPECT_NE(json::parse(*held)["uid"], json::parse(out.stdout_data)["uid"]) << *held << out.stdout_data;
  }
}

TEST_P(IsolationTest, NoZombieIsLeftBehind) {
  ASSERT_TRUE(ChildReaper::BecomeSubreaper());
  WriteFile(code_ / "bg.sh", "sleep 0.2 &\necho '{}'\n");
  for (int i = 0; i < 5; ++i) {
    auto out = RunOk(Spec({"/bin/sh", "/fn/bg.sh"}));
    ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  }
  auto warm = runtime_->Start(Spec({"/bin/sh", "/fn/bg.sh"}));
  ASSERT_TRUE(warm) << warm.error().message;
  warm->reset();
  // Orphans that were still running when their container ended are reaped once they exit.
  std::vector<std::pair<pid_t, char>> zombies;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  do {
    ChildReaper::ReapOrphans();
    zombies.clear();
    for (auto [pid, state] : ChildStates()) {
      if (state == 'Z') zombies.push_back({pid, state});
    }
    if (zombies.empty()) break;
    std::this_thread::sleep_for(20ms);  // polling the kernel's process table, with a deadline
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(zombies.empty()) << zombies.size() << " zombie children, first " << zombies.front().first;
}

TEST_P(IsolationTest, MountinfoNamesNoHostPath) {
  WriteFile(code_ / "mi.sh", "cat /proc/self/mountinfo\n");
  auto out = RunOk(Spec({"/bin/sh", "/fn/mi.sh"}));
  ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
  const auto& text = out.stdout_data;
  EXPECT_EQ(text.find(code_.path().string()), std::string::npos) << text;
  EXPECT_EQ(text.find(work_.path().string()), std::string::npos) << text;
  EXPECT_EQ(text.find("/var/lib"), std::string::npos) << text;
  EXPECT_EQ(text.find("/run/edgewire"), std::string::npos) << text;
}

// Not a pass/fail check: what the added steps (uid lease, cgroups, overlays, reaping) cost a
// cold start, for docs/SECURITY.md. Compare bwrap with bwrap_rlimits (no cgroups) in one run.
TEST_P(IsolationTest, ColdStartTiming) {
  WriteFile(code_ / "hello.sh", "echo '{}'\n");
  std::vector<double> walls;
  for (int i = 0; i < 15; ++i) {
    auto out = RunOk(Spec({"/bin/sh", "/fn/hello.sh"}));
    ASSERT_EQ(out.exit_code, 0) << out.stderr_data;
    walls.push_back(out.wall.count() / 1000.0);
  }
  std::sort(walls.begin(), walls.end());
  std::cout << "[timing] " << GetParam().name << " cold run of a trivial sh function: median " << walls[7]
            << " ms (min " << walls.front() << ", max " << walls.back() << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Runtimes, IsolationTest,
                         ::testing::Values(Variant{"runc", "auto", "runc"}, Variant{"bwrap", "auto", "bwrap"},
                                           Variant{"bwrap", "off", "bwrap_rlimits"}, Variant{"crun", "auto", "crun"}),
                         [](const ::testing::TestParamInfo<Variant>& info) { return info.param.name; });

}  // namespace
}  // namespace ew::containers
