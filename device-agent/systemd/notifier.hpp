// systemd's notify protocol (Type=notify units): readiness, status line, watchdog, stopping.
// Outside systemd (no $NOTIFY_SOCKET) every call is a cheap no-op; under systemd each is one
// datagram to $NOTIFY_SOCKET, spoken directly (notifier.cpp says why not libsystemd). A failed
// send is logged and never stops the agent. Io thread (not thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ew::agent::systemd {

class Notifier {
 public:
  // READY=1. Sent once; later calls are ignored.
  void Ready();
  // STATUS=<text>, shown by `systemctl status`.
  void Status(const std::string& text);
  // WATCHDOG=1.
  void Watchdog();
  // STOPPING=1. Sent once; later calls are ignored.
  void Stopping();
  bool stopping() const { return stopping_sent_; }

  // How often to call Watchdog(): half of WatchdogSec= when the unit sets one for this process,
  // otherwise nullopt.
  static std::optional<std::chrono::microseconds> WatchdogPeriod();

 private:
  bool ready_sent_ = false;
  bool stopping_sent_ = false;
};

}  // namespace ew::agent::systemd
