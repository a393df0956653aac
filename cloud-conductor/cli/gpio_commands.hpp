// `edgewire gpio ...`: the GPIO lines of a live board, reading and writing one, following its
// edges as they happen, and its readings history (docs/GPIO.md, REST /v1/boards/{id}/gpio).
// BOARD is a board id or name, LINE a line as the board names it (GPIO17, 17, gpiochip1:5).
// Errors as in commands.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "cloud-conductor/cli/commands.hpp"
#include "common/error/error.hpp"

namespace ew::cli {

struct GpioWatchOptions {
  std::string edge = "both";    // --edge: rising, falling or both
  int64_t debounce_ms = 0;      // --debounce-ms, 0..1000
  int64_t count = 0;            // --count: stop after this many events; 0 = until interrupted
  // The conductor sends a keepalive every 15 s: three missed ones mean the link is gone.
  std::chrono::milliseconds idle{45'000};
};

struct GpioHistoryOptions {
  std::string from;  // --from, RFC 3339 or ns since the epoch; "" = the oldest kept
  std::string to;    // --to, likewise; "" = now
  int64_t limit = 0; // --limit, 1..10000; 0 = the conductor's default (1000)
};

Result<void> GpioList(Context& ctx, const std::string& board);
Result<void> GpioGet(Context& ctx, const std::string& board, const std::string& line);
// `value` is 0 or 1 (checked by the caller).
Result<void> GpioSet(Context& ctx, const std::string& board, const std::string& line, int value);
// Prints one line per edge as it comes (--json: the event's JSON), flushing each. Returns after
// `count` events; Unavailable "board … went offline" (or why else the conductor ended the
// stream) when the stream ends first. A gap in an edge's seq is reported on stderr.
Result<void> GpioWatch(Context& ctx, const std::string& board, const std::string& line,
                       const GpioWatchOptions& options);
// Oldest first; when the conductor had more in the range, a note on stderr says so.
Result<void> GpioHistory(Context& ctx, const std::string& board, const std::string& line,
                         const GpioHistoryOptions& options);

}  // namespace ew::cli
