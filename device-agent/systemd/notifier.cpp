// systemd's notify protocol, spoken directly: one datagram per message to the AF_UNIX socket
// named by $NOTIFY_SOCKET (a path, or "@name" for Linux's abstract namespace), and the watchdog
// period from $WATCHDOG_USEC (for this process when $WATCHDOG_PID is unset or names it).
//
// Why not libsystemd: systemd documents this protocol as stable and "reimplementable
// independently" (systemd's Interface Portability and Stability chart; sd_notify(3), NOTES, gives
// a standalone implementation and recommends it to programs that need nothing else from the
// library). Loading libsystemd under systemd mapped it and six libraries it needs (libgcrypt,
// libgpg-error, libzstd, liblzma, liblz4, libcap): +1.2 MB of an idle agent's RSS on a Pi, and a
// supply-chain surface the agent does not need.
#include "device-agent/systemd/notifier.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "common/log/log.hpp"

namespace ew::agent::systemd {

const ew::log::Logger Log{"agent"};

namespace {

// The socket address $NOTIFY_SOCKET names, or nothing outside a service manager. Read at each
// message (a getenv and a copy: cheap at the watchdog's pace). A value that is neither an absolute
// path nor "@name", or too long for sockaddr_un, is logged once and ignored (systemd then times
// the unit out waiting for READY=1, and the log says why).
struct NotifyAddress {
  sockaddr_un addr{};
  socklen_t length = 0;
};

std::optional<NotifyAddress> Address() {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr || *env == '\0') return std::nullopt;
  const std::string_view path(env);
  NotifyAddress a;
  if ((path[0] != '/' && path[0] != '@') || path.size() >= sizeof(a.addr.sun_path)) {
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true))
      Log()->error("NOTIFY_SOCKET '{}' is not an AF_UNIX socket path or @name; systemd is not told of readiness", path);
    return std::nullopt;
  }
  a.addr.sun_family = AF_UNIX;
  std::memcpy(a.addr.sun_path, path.data(), path.size());
  if (path[0] == '@') a.addr.sun_path[0] = '\0';  // abstract namespace: no terminating NUL counted
  a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  return a;
}

void Notify(std::string_view state) {
  const std::optional<NotifyAddress> address = Address();
  if (!address) return;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Log()->warn("cannot notify systemd ({}): socket: {}", state.substr(0, state.find('=')), std::strerror(errno));
    return;
  }
  ssize_t sent;
  do {
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&address->addr), address->length);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0)
    Log()->warn("cannot notify systemd ({}): {}", state.substr(0, state.find('=')), std::strerror(errno));
  ::close(fd);
}

// A decimal environment value, or nothing when it is unset or not a whole number.
std::optional<uint64_t> EnvNumber(const char* name) {
  const char* env = std::getenv(name);
  if (env == nullptr) return std::nullopt;
  const std::string_view text(env);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

void Notifier::Ready() {
  if (ready_sent_) return;
  ready_sent_ = true;
  Notify("READY=1");
}

void Notifier::Status(const std::string& text) {
  // STATUS= is one line; a newline would start another assignment.
  std::string line = "STATUS=" + text;
  for (auto& c : line)
    if (c == '\n') c = ' ';
  Notify(line);
}

void Notifier::Watchdog() { Notify("WATCHDOG=1"); }

void Notifier::Stopping() {
  if (stopping_sent_) return;
  stopping_sent_ = true;
  Notify("STOPPING=1");
}

std::optional<std::chrono::microseconds> Notifier::WatchdogPeriod() {
  // sd_watchdog_enabled(3)'s rules: WATCHDOG_USEC > 0, and WATCHDOG_PID (when set) is this process.
  if (!Address()) return std::nullopt;
  const auto usec = EnvNumber("WATCHDOG_USEC");
  if (!usec || *usec == 0) return std::nullopt;
  if (std::getenv("WATCHDOG_PID") != nullptr) {
    const auto pid = EnvNumber("WATCHDOG_PID");
    if (!pid || *pid != static_cast<uint64_t>(::getpid())) return std::nullopt;
  }
  return std::chrono::microseconds(*usec / 2);
}

}  // namespace ew::agent::systemd
