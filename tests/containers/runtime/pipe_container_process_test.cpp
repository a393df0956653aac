// PipeContainerProcess: stopping a warm instance whose runtime is still creating the container.
#include "containers/runtime/pipe_container_process.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>

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

}  // namespace
}  // namespace ew::containers
