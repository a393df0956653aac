// Thin layer over sd_notify(3) / sd_watchdog_enabled(3).
#include "device-agent/systemd/notifier.hpp"

#include <systemd/sd-daemon.h>

namespace ew::agent::systemd {

void Notifier::Ready() {
  if (ready_sent_) return;
  ready_sent_ = true;
  sd_notify(0, "READY=1");
}

void Notifier::Status(const std::string& text) {
  // STATUS= is one line; a newline would start another assignment.
  std::string line = text;
  for (auto& c : line)
    if (c == '\n') c = ' ';
  sd_notify(0, ("STATUS=" + line).c_str());
}

void Notifier::Watchdog() { sd_notify(0, "WATCHDOG=1"); }

void Notifier::Stopping() {
  if (stopping_sent_) return;
  stopping_sent_ = true;
  sd_notify(0, "STOPPING=1");
}

std::optional<std::chrono::microseconds> Notifier::WatchdogPeriod() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace ew::agent::systemd
