// ChildReaper: as a subreaper this process reaps orphans its children leave, and never the
// runtime processes a ChildProcess still waits for (their exit status must survive).
#include "containers/runtime/child_reaper.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "containers/runtime/child_process.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;

// 'Z' for a zombie, 0 when `pid` is gone.
char State(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() ? 0 : text[paren + 2];
}

TEST(ChildReaperTest, AnOrphanBecomesOursAndIsReaped) {
  ASSERT_TRUE(ChildReaper::BecomeSubreaper());
  EXPECT_TRUE(ChildReaper::IsSubreaper());
  // sh starts a grandchild and exits at once: the grandchild (its pid on stdout) is orphaned.
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "sleep 0.3 & echo $!"};
  auto child = ChildProcess::Spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  RunLimits limits;
  limits.timeout = 10s;
  auto out = (*child)->Communicate("", limits, [] {});
  ASSERT_EQ(out.exit_code, 0);
  const pid_t orphan = std::stoi(out.stdout_data);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (State(orphan) != 'Z' && State(orphan) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);  // the orphan sleeps 0.3 s; polled with a deadline
  }
  ASSERT_EQ(State(orphan), 'Z') << "the orphan should be our zombie";
  EXPECT_GE(ChildReaper::ReapOrphans(), 1u);
  EXPECT_EQ(State(orphan), 0);
}

TEST(ChildReaperTest, ReapOrphansLeavesTheExitStatusOfAChildProcess) {
  ASSERT_TRUE(ChildReaper::BecomeSubreaper());
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "exit 7"};
  auto child = ChildProcess::Spawn(options);
  ASSERT_TRUE(child) << child.error().message;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (State((*child)->pid()) != 'Z' && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ChildReaper::ReapOrphans();  // must not take it
  (*child)->Wait();
  EXPECT_EQ((*child)->exit_code(), 7);
}

}  // namespace
}  // namespace ew::containers
