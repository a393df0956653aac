// PipeContainerProcess: stopping a warm instance whose runtime is still creating the container.
#include "containers/runtime/pipe_container_process.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace ew::containers {
namespace {

TEST(PipeContainerProcessTest, AKillThatFoundNoContainerYetIsSentAgain) {
  SpawnOptions options;
  options.argv = {"/bin/sleep", "30"};
  auto child = ChildProcess::Spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  const pid_t pid = (*child)->pid();
  // The first kill finds nothing (as `runc kill` of a container not created yet); the next ends it.
  std::atomic<int> kills{0};
  auto kill_container = [&kills, pid] {
    if (++kills >= 2) ::kill(pid, SIGTERM);
  };
  std::atomic<int> cleanups{0};
  {
    PipeContainerProcess process(std::move(*child), kill_container, [&cleanups] { ++cleanups; });
    EXPECT_TRUE(process.IsAlive());
  }  // the destructor stops it
  EXPECT_GE(kills.load(), 2) << "only one kill: the process waited for the grace period's SIGKILL instead";
  EXPECT_EQ(cleanups.load(), 1);
}

// A warm instance whose process runs `script` in /bin/sh, without a container.
std::unique_ptr<PipeContainerProcess> Shell(const std::string& script) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", script};
  auto child = ChildProcess::Spawn(options);
  EXPECT_TRUE(child) << child.error().message;
  if (!child) return nullptr;
  const pid_t pid = (*child)->pid();
  return std::make_unique<PipeContainerProcess>(std::move(*child), [pid] { ::kill(pid, SIGKILL); }, nullptr);
}

// Output that is already there before a request is written (a banner, or a previous request's
// second line) would be taken as the answer: the instance is discarded, Conflict, nothing written.
TEST(PipeContainerProcessTest, OutputBeforeTheRequestIsAConflict) {
  // The stdout line is in the pipe before "ready" reaches stderr.
  auto process = Shell("echo '{\"banner\": 0}'; echo ready >&2; while read -r l; do echo '{\"ok\": 1}'; done");
  ASSERT_TRUE(process);
  std::string logs;
  for (int i = 0; i < 10'000 && logs.find("ready") == std::string::npos; ++i) {
    logs += process->TakeLogs();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_NE(logs.find("ready"), std::string::npos);
  auto answer = process->Exchange("{}", std::chrono::seconds(10), 1 << 20, nullptr);
  ASSERT_FALSE(answer) << "the banner was taken as the answer: " << *answer;
  EXPECT_EQ(answer.error().code, ErrorCode::kConflict) << answer.error().message;
  EXPECT_FALSE(process->IsAlive());
}

// An instance that closes its stdout but lives on cannot answer: the call ends at once and the
// instance is killed (not waited for without end).
TEST(PipeContainerProcessTest, AnInstanceThatClosedItsStdoutIsKilled) {
  auto process = Shell("exec 1>&-; while :; do sleep 1; done");
  ASSERT_TRUE(process);
  const auto begun = std::chrono::steady_clock::now();
  auto answer = process->Exchange("{}", std::chrono::seconds(60), 1 << 20, nullptr);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::kUnavailable) << answer.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - begun, std::chrono::seconds(30));
  EXPECT_FALSE(process->IsAlive());
}

// A well-behaved instance: an answer written in pieces, slowly, and a request over a pipe's
// buffer, are all one exchange each.
TEST(PipeContainerProcessTest, AnAnswerInPiecesAndALongRequestAreServed) {
  auto process = Shell(
      "while read -r l; do printf '{\"len\": '; sleep 0.05; printf '%s}\\n' \"${#l}\"; done");
  ASSERT_TRUE(process);
  for (size_t size : {2u, 200'000u}) {
    const std::string request = "\"" + std::string(size - 2, 'x') + "\"";
    auto answer = process->Exchange(request, std::chrono::seconds(10), 1 << 20, nullptr);
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(*answer, "{\"len\": " + std::to_string(size) + "}");
  }
  EXPECT_TRUE(process->IsAlive());
}

}  // namespace
}  // namespace ew::containers
