#include "device-agent/systemd/notifier.hpp"

#include <dlfcn.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace ew::agent::systemd {
namespace {

// A stand-in for systemd's notification socket: an abstract AF_UNIX datagram socket.
class NotifySocket {
 public:
  NotifySocket() {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    name_ = "ew-notify-test-" + std::to_string(getpid());
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path + 1, name_.data(), name_.size());  // sun_path[0] = 0: abstract
    socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_.size());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), length), 0) << std::strerror(errno);
  }
  ~NotifySocket() { close(fd_); }
  // $NOTIFY_SOCKET spells an abstract socket with a leading '@'.
  std::string env() const { return "@" + name_; }
  // The next datagram, or "" after 5 s.
  std::string Receive() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return "";
    char buffer[4096];
    ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_ = -1;
  std::string name_;
};

// Outside a service manager every call is a no-op; under one, each is a datagram.
TEST(NotifierTest, SpeaksTheNotifyProtocolOnlyUnderAServiceManager) {
  unsetenv("NOTIFY_SOCKET");
  setenv("WATCHDOG_USEC", "4000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  Notifier outside;
  outside.Ready();
  outside.Status("nobody listens");
  outside.Watchdog();
  outside.Stopping();
  EXPECT_EQ(Notifier::WatchdogPeriod(), std::nullopt);

  NotifySocket socket;
  setenv("NOTIFY_SOCKET", socket.env().c_str(), 1);
  Notifier notifier;
  notifier.Ready();
  EXPECT_EQ(socket.Receive(), "READY=1");
  notifier.Ready();  // sent once
  notifier.Status("two\nlines");
  EXPECT_EQ(socket.Receive(), "STATUS=two lines");
  notifier.Watchdog();
  EXPECT_EQ(socket.Receive(), "WATCHDOG=1");
  notifier.Stopping();
  EXPECT_TRUE(notifier.stopping());
  EXPECT_EQ(socket.Receive(), "STOPPING=1");
  EXPECT_EQ(Notifier::WatchdogPeriod(), std::chrono::microseconds(2'000'000));  // half of WATCHDOG_USEC

  // sd_watchdog_enabled(3)'s rules: the watchdog is another process's, or WATCHDOG_USEC is no number.
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  EXPECT_EQ(Notifier::WatchdogPeriod(), std::nullopt);
  unsetenv("WATCHDOG_PID");
  EXPECT_EQ(Notifier::WatchdogPeriod(), std::chrono::microseconds(2'000'000));
  setenv("WATCHDOG_USEC", "4s", 1);
  EXPECT_EQ(Notifier::WatchdogPeriod(), std::nullopt);
  setenv("WATCHDOG_USEC", "0", 1);
  EXPECT_EQ(Notifier::WatchdogPeriod(), std::nullopt);

  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
}

// The agent maps no libsystemd, under a service manager or not (its RSS; notifier.cpp).
TEST(NotifierTest, NeverLoadsLibsystemd) {
  void* handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_NOLOAD);
  if (handle != nullptr) dlclose(handle);
  EXPECT_EQ(handle, nullptr);
}

}  // namespace
}  // namespace ew::agent::systemd
