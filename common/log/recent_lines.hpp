// What the loggers of common/log do for a daemon under systemd (issue 16): journald priority
// prefixes and a bounded ring of recent lines (the agent's sys.logs). Implemented in log.cpp,
// which owns the loggers; a header of its own so that the many files that log do not see it.
#pragma once

#include <cstddef>
#include <cstdint>
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
// escaped, no newline). Empty when KeepRecentLines was not called. `next_seq`, when given, gets
// the number the next line logged will have (lines are numbered from 0 in the order logged).
// Thread-safe.
std::vector<std::string> RecentLines(size_t max_lines, uint64_t* next_seq = nullptr);

// Lines numbered `from_seq` and later still in the ring, oldest first, at most `max_lines`:
// sys.logs follow mode reads what came since the last line it sent. `skipped` counts lines
// from `from_seq` on that the ring dropped before they were read; `next_seq` is the number to
// ask for next time. Thread-safe.
struct RecentLinesPage {
  std::vector<std::string> lines;
  uint64_t next_seq = 0;
  uint64_t skipped = 0;
};
RecentLinesPage RecentLinesSince(uint64_t from_seq, size_t max_lines);
// The number the next line logged will get (0 when the ring is off). Thread-safe.
uint64_t NextRecentLineSeq();

}  // namespace ew::log
