// spdlog loggers, one per module ("router", "rest", "store", "agent", ...). Never log secrets.
//
// Log lines cannot be forged: every logger escapes control characters in its messages (a
// newline in a peer's hostname never starts a line of its own), and values that come from
// outside (hostnames, authids, names a peer chose, headers) go through Untrusted() where they
// are logged, which also quotes backslashes and bounds their length.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace ew::log {

// Returns the logger for a module, creating it (stderr, shared format, control characters
// escaped) on first use.
std::shared_ptr<spdlog::logger> Get(const std::string& module);
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
