// What the loggers of common/log do for a daemon under systemd (issue 16): journald priority
// prefixes and a bounded ring of recent lines (the agent's sys.logs). Implemented in log.cpp,
// which owns the loggers; a header of its own so that the many files that log do not see it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ew::log {

// True under systemd with stderr connected to the journal ($JOURNAL_STREAM names this
// process's stderr). Loggers then print sd-daemon priority prefixes ("<3>" error, "<4>" warn,
// "<6>" info, "<7>" debug/trace) without timestamp or colours, so journald records each line's
// level. Read once, when the first logger is made.
bool StderrIsJournal();

// From now on every logger also keeps its lines in one shared in-memory ring of `capacity`
// lines (the oldest dropped). First call wins; 0 = off. Call early, before other threads log:
// it adds a sink to loggers that exist already.
void KeepRecentLines(size_t capacity);

// The newest `max_lines` lines of that ring, oldest first, each one line (control characters
// escaped, no newline). Empty when KeepRecentLines was not called. Thread-safe.
std::vector<std::string> RecentLines(size_t max_lines);

}  // namespace ew::log
