#include "common/posix/poll.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "common/posix/unique_fd.hpp"

namespace ew::posix {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

struct Pipe {
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
  UniqueFd read_end, write_end;
};

TEST(PollTest, ReadyDescriptorReturnsAtOnce) {
  Pipe p;
  ASSERT_EQ(::write(p.write_end.get(), "x", 1), 1);
  auto revents = PollFdUntil(p.read_end.get(), POLLIN, steady_clock::now() + std::chrono::hours(1));
  ASSERT_TRUE(revents) << revents.error().message;
  EXPECT_TRUE(*revents & POLLIN);
}

TEST(PollTest, PassedDeadlineIsDeadlineExceeded) {
  Pipe p;
  auto revents = PollFdUntil(p.read_end.get(), POLLIN, steady_clock::now() - milliseconds(1));
  ASSERT_FALSE(revents);
  EXPECT_EQ(revents.error().code, ErrorCode::kDeadlineExceeded);
}

// Real time: what is under test is that poll(2) is neither cut short by a signal nor left
// waiting past the deadline. The bounds are loose enough for a loaded machine.
TEST(PollTest, WaitsUntilTheDeadlineAcrossSignals) {
  struct sigaction action {};
  action.sa_handler = [](int) {};  // no SA_RESTART: poll returns EINTR
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR1, &action, &old), 0);
  Pipe p;
  const pthread_t self = ::pthread_self();
  std::thread interrupter([self] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(milliseconds(20));
      ::pthread_kill(self, SIGUSR1);
    }
  });
  const auto start = steady_clock::now();
  const auto deadline = start + milliseconds(300);
  pollfd fd{p.read_end.get(), POLLIN, 0};
  auto ready = PollUntil(&fd, 1, deadline);
  const auto end = steady_clock::now();
  interrupter.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  ASSERT_TRUE(ready) << ready.error().message;
  EXPECT_EQ(*ready, 0);
  EXPECT_GE(end, deadline);
  EXPECT_LT(end - deadline, milliseconds(2000));
}

TEST(PollTest, ReportsTheDescriptorThatBecameReady) {
  Pipe a, b;
  ASSERT_EQ(::write(b.write_end.get(), "x", 1), 1);
  pollfd fds[2] = {{a.read_end.get(), POLLIN, 0}, {b.read_end.get(), POLLIN, 0}};
  auto ready = PollUntil(fds, 2, steady_clock::time_point::max());
  ASSERT_TRUE(ready);
  EXPECT_EQ(*ready, 1);
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_TRUE(fds[1].revents & POLLIN);
}

}  // namespace
}  // namespace ew::posix
