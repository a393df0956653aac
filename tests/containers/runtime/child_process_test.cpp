#include "containers/runtime/child_process.hpp"

#include <fcntl.h>
#include <signal.h>

#include <gtest/gtest.h>

#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<ChildProcess> Sh(const std::string& script, std::vector<std::string> extra = {}) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", script, "sh"};
  options.argv.insert(options.argv.end(), extra.begin(), extra.end());
  options.env = {"PATH=/usr/bin:/bin"};
  auto child = ChildProcess::Spawn(options);
  EXPECT_TRUE(child) << child.error().message;
  return child ? std::move(*child) : nullptr;
}

RunOutput Communicate(ChildProcess& child, std::string_view input, RunLimits limits = {}) {
  ChildProcess* raw = &child;
  return child.Communicate(input, limits, [raw] { raw->SignalGroup(SIGKILL); });
}

TEST(ChildProcessTest, FeedsStdinAndCollectsBothOutputs) {
  auto child = Sh("cat; echo err >&2; exit 4");
  auto out = Communicate(*child, "hello");
  EXPECT_EQ(out.stdout_data, "hello");
  EXPECT_EQ(out.stderr_data, "err\n");
  EXPECT_EQ(out.exit_code, 4);
  EXPECT_FALSE(out.timed_out);
  EXPECT_GT(out.wall.count(), 0);
}

TEST(ChildProcessTest, InputLargerThanAPipeDoesNotDeadlock) {
  auto child = Sh("cat");
  std::string input(4 << 20, 'a');
  auto out = Communicate(*child, input, RunLimits{10s, 8u << 20, 1024});
  EXPECT_EQ(out.stdout_data.size(), input.size());
  EXPECT_EQ(out.exit_code, 0);
}

TEST(ChildProcessTest, ProcessThatIgnoresStdinStillFinishes) {
  auto child = Sh("echo done");
  auto out = Communicate(*child, std::string(1 << 20, 'x'));
  EXPECT_EQ(out.stdout_data, "done\n");
  EXPECT_EQ(out.exit_code, 0);
}

TEST(ChildProcessTest, TimeoutKillsTheGroup) {
  auto marker = testing::UniqueMarker("child-timeout");
  auto child = Sh("sleep 30 & sleep 30", {marker});
  RunLimits limits;
  limits.timeout = 300ms;
  auto out = Communicate(*child, "", limits);
  EXPECT_TRUE(out.timed_out);
  EXPECT_EQ(out.exit_code, 128 + SIGKILL);
  EXPECT_LT(out.wall, std::chrono::microseconds(5s));
}

TEST(ChildProcessTest, StdoutOverTheCapIsTruncatedAndKilled) {
  auto child = Sh("cat /dev/zero");
  RunLimits limits;
  limits.max_stdout_bytes = 100000;
  auto out = Communicate(*child, "", limits);
  EXPECT_TRUE(out.stdout_truncated);
  EXPECT_EQ(out.stdout_data.size(), 100000u);
  EXPECT_FALSE(out.timed_out);
}

TEST(ChildProcessTest, StderrOverTheCapKeepsTheStart) {
  auto child = Sh("printf 'abcdef' >&2; echo ok");
  RunLimits limits;
  limits.max_stderr_bytes = 3;
  auto out = Communicate(*child, "", limits);
  EXPECT_EQ(out.stderr_data, "abc");
  EXPECT_TRUE(out.stderr_truncated);
  EXPECT_EQ(out.exit_code, 0);
}

TEST(ChildProcessTest, SignalDeathIs128PlusN) {
  auto child = Sh("kill -TERM $$");
  auto out = Communicate(*child, "");
  EXPECT_EQ(out.exit_code, 128 + SIGTERM);
}

TEST(ChildProcessTest, CannotExecIsAnError) {
  SpawnOptions options;
  options.argv = {"/nonexistent/binary"};
  auto child = ChildProcess::Spawn(options);
  ASSERT_FALSE(child);
  EXPECT_NE(child.error().message.find("No such file"), std::string::npos) << child.error().message;
  options.argv = {"relative"};
  EXPECT_FALSE(ChildProcess::Spawn(options));
}

TEST(ChildProcessTest, OnlyStdioAndRequestedDescriptorsAreInherited) {
  // High numbers: ls itself opens low ones. Neither is close-on-exec.
  int leaked = fcntl(1, F_DUPFD, 90);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  int inherited = fcntl(fds[0], F_DUPFD, 95);
  close(fds[0]);
  fds[0] = inherited;
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "ls /proc/self/fd"};
  options.inherit_fds = {fds[0]};
  auto child = ChildProcess::Spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  auto out = Communicate(**child, "");
  EXPECT_NE(out.stdout_data.find(std::to_string(fds[0]) + "\n"), std::string::npos) << out.stdout_data;
  EXPECT_EQ(out.stdout_data.find("\n" + std::to_string(leaked) + "\n"), std::string::npos) << out.stdout_data;
  close(leaked);
  close(fds[0]);
  close(fds[1]);
}

TEST(ChildProcessTest, RlimitsApplyBeforeExec) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "ulimit -n; ulimit -c"};
  options.rlimits = {{RLIMIT_NOFILE, 77}, {RLIMIT_CORE, 0}};
  auto child = ChildProcess::Spawn(options);
  ASSERT_TRUE(child);
  auto out = Communicate(**child, "");
  EXPECT_EQ(out.stdout_data, "77\n0\n");
}

TEST(ChildProcessTest, CancelFlagKills) {
  auto child = Sh("sleep 30");
  std::atomic<bool> cancel{true};
  ChildProcess* raw = child.get();
  auto out = child->Communicate("", RunLimits{}, [raw] { raw->SignalGroup(SIGKILL); }, &cancel);
  EXPECT_FALSE(out.timed_out);
  EXPECT_EQ(out.exit_code, 128 + SIGKILL);
}

TEST(RunHelperTest, ReportsExitStatusAndStderr) {
  EXPECT_TRUE(RunHelper({"/bin/true"}, 5s));
  auto failed = RunHelper({"/bin/sh", "-c", "echo nope >&2; exit 2"}, 5s);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("exit status 2: nope"), std::string::npos) << failed.error().message;
  auto slow = RunHelper({"/bin/sleep", "30"}, 200ms);
  ASSERT_FALSE(slow);
  EXPECT_NE(slow.error().message.find("timed out"), std::string::npos);
}

}  // namespace
}  // namespace ew::containers
