// Thin layer over sd_notify(3) / sd_watchdog_enabled(3). libsystemd is loaded with dlopen, and
// only once $NOTIFY_SOCKET says a service manager listens: linked, it and what it pulls in
// (libgcrypt, libgpg-error, libzstd, liblzma, liblz4, libcap) were ~1 MB of an idle agent's RSS.
#include "device-agent/systemd/notifier.hpp"

#include <dlfcn.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>

#include "common/log/log.hpp"

namespace ew::agent::systemd {

const ew::log::Logger Log{"agent"};

namespace {

// The two libsystemd functions the agent uses, typed from <systemd/sd-daemon.h>.
struct LibSystemd {
  decltype(&sd_notify) notify = nullptr;
  decltype(&sd_watchdog_enabled) watchdog_enabled = nullptr;
};

// Null outside a service manager. Under one, libsystemd.so.0 is loaded on first use and stays
// loaded; if that fails the functions stay null and the error is logged once (systemd will then
// time the unit out waiting for READY=1, so the operator must act).
const LibSystemd* Lib() {
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return nullptr;
  static const LibSystemd lib = [] {
    LibSystemd loaded;
    void* handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      Log()->error("NOTIFY_SOCKET is set but libsystemd cannot be loaded: {}", dlerror());
      return loaded;
    }
    loaded.notify = reinterpret_cast<decltype(&sd_notify)>(dlsym(handle, "sd_notify"));
    loaded.watchdog_enabled = reinterpret_cast<decltype(&sd_watchdog_enabled)>(dlsym(handle, "sd_watchdog_enabled"));
    if (loaded.notify == nullptr || loaded.watchdog_enabled == nullptr)
      Log()->error("libsystemd.so.0 lacks sd_notify or sd_watchdog_enabled");
    return loaded;
  }();
  return &lib;
}

void Notify(const char* state) {
  if (const LibSystemd* lib = Lib(); lib != nullptr && lib->notify != nullptr) lib->notify(0, state);
}

}  // namespace

void Notifier::Ready() {
  if (ready_sent_) return;
  ready_sent_ = true;
  Notify("READY=1");
}

void Notifier::Status(const std::string& text) {
  // STATUS= is one line; a newline would start another assignment.
  std::string line = text;
  for (auto& c : line)
    if (c == '\n') c = ' ';
  Notify(("STATUS=" + line).c_str());
}

void Notifier::Watchdog() { Notify("WATCHDOG=1"); }

void Notifier::Stopping() {
  if (stopping_sent_) return;
  stopping_sent_ = true;
  Notify("STOPPING=1");
}

std::optional<std::chrono::microseconds> Notifier::WatchdogPeriod() {
  // systemd sets $NOTIFY_SOCKET whenever WatchdogSec= is on (NotifyAccess defaults to main).
  const LibSystemd* lib = Lib();
  if (lib == nullptr || lib->watchdog_enabled == nullptr) return std::nullopt;
  uint64_t usec = 0;
  if (lib->watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace ew::agent::systemd
