// spdlog loggers, one per module ("router", "rest", "store", "agent", ...). Never log secrets.
//
// Log lines cannot be forged: every logger escapes control characters in its messages (a
// newline in a peer's hostname never starts a line of its own), and values that come from
// outside (hostnames, authids, names a peer chose, headers) go through Untrusted() where they
// are logged, which also quotes backslashes and bounds their length.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace ew::log {

// Returns the logger for a module, creating it (stderr, shared format, control characters
// escaped) on first use. Takes a lock: code logs through a Logger below, which calls this once.
std::shared_ptr<spdlog::logger> Get(const std::string& module);

// The one way a file reaches its module's logger. Declare one at namespace scope,
//   const ew::log::Logger Log{"containers"};
// and write `Log()->info(...)`. The first call looks the logger up (Get), later calls only
// read it: no lock per line. Constant-initialized, so usable from other static initializers;
// thread-safe.
class Logger {
 public:
  constexpr explicit Logger(const char* module) : module_(module) {}
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Never null.
  const std::shared_ptr<spdlog::logger>& operator()() const {
    std::call_once(once_, [this] { logger_ = Get(module_); });
    return logger_;
  }

 private:
  const char* module_;
  mutable std::once_flag once_;
  mutable std::shared_ptr<spdlog::logger> logger_;
};
// "trace|debug|info|warn|error|off"; unknown names leave the level unchanged and return false.
bool SetLevel(const std::string& level);

// A value from outside, fit for a log line: control characters (C0, DEL) as \n, \r, \t or
// \xNN, a backslash as "\\", and at most `max_bytes` bytes of the value followed by
// "...(N bytes)" when it is longer. Pure, thread-safe.
std::string Untrusted(std::string_view value, size_t max_bytes = 256);

// `text` with control characters escaped as Untrusted() does, backslashes and length left
// alone: what every logger applies to its whole message.
std::string EscapeControl(std::string_view text);

}  // namespace ew::log
