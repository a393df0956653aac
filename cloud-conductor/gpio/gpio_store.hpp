// The conductor's GPIO readings history: every edge boards publish and every value read or
// written through the conductor, in the registry's SQLite file (table gpio_readings, schema v3
// of registry/migrations.cpp) on a connection of its own, as FunctionStore does.
//
// Thread-safe and blocking (every method holds the connection's mutex): call from the blocking
// pool (ReadingRecorder batches the writes there). No method changes anything when it returns
// an error.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "cloud-conductor/registry/sqlite_connection.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::gpio {

enum class ReadingKind { kEdge, kRead, kWrite };

std::string_view ReadingKindName(ReadingKind kind);  // "edge", "read", "write"

struct Reading {
  std::string board_id;
  std::string chip;                      // "sim0", "gpiochip0"
  std::string line;                      // the line's name as the board reported it, "GPIO17"
  int64_t offset = 0;                    // on the chip, >= 0
  int64_t time_ns = 0;                   // when the conductor received it, ns since the Unix epoch
  ReadingKind kind = ReadingKind::kRead;
  int value = 0;                         // 0 or 1
  // Edges only: "rising" or "falling", the board's monotonic time of the edge and its per-line
  // sequence number.
  std::string edge;
  std::optional<int64_t> board_time_ns;
  std::optional<int64_t> seq;
};

// InvalidArgument naming the field when `reading` breaks the rules above.
Result<void> CheckReading(const Reading& reading);

struct ReadingQuery {
  std::string board_id;
  // "" = every line; else a line as the board names it: "GPIO17", an offset "17", or
  // "chip:GPIO17" / "chip:17" for one chip.
  std::string line;
  int64_t from_ns = 0;                   // from_ns <= time_ns < to_ns
  int64_t to_ns = INT64_MAX;
  size_t limit = 1000;                   // 1 .. kMaxQueryLimit
  // "" = the newest readings of the range; else a ReadingPage::next_cursor of the same query:
  // the readings older than those of that page.
  std::string cursor;
};

inline constexpr size_t kMaxQueryLimit = 10'000;

struct ReadingPage {
  std::vector<Reading> readings;  // the newest `limit` of the range, oldest first
  bool truncated = false;         // the range holds older readings than those returned
  std::string next_cursor;        // when truncated: the cursor of the next (older) page
};

class GpioStore {
 public:
  // Opens `path` (the registry's file, already migrated by OpenSqliteStore). ":memory:" gives a
  // private database with the whole schema applied: for tests.
  static Result<std::unique_ptr<GpioStore>> Open(const std::string& path);
  explicit GpioStore(SQLite::Database db);

  // Inserts `readings` in one transaction (one prepared statement for all). InvalidArgument
  // naming the reading and field when one of them is malformed: then none is stored.
  Result<void> Insert(const std::vector<Reading>& readings);
  // InvalidArgument for an empty board id, limit outside 1..kMaxQueryLimit, from_ns > to_ns or
  // a cursor this store did not give.
  Result<ReadingPage> Query(const ReadingQuery& query);
  // Deletes up to `max_rows` readings received before `before_ns`, oldest first, in one
  // transaction; returns how many went. Callers loop while it returns max_rows, so that a large
  // prune does not hold the write lock for long.
  Result<int64_t> PruneBefore(int64_t before_ns, int64_t max_rows);

 private:
  registry::SqliteConnection connection_;  // every method runs its statements in connection_.Run
  SQLite::Database& db_;                   // connection_'s database: inside connection_.Run only
};

}  // namespace ew::conductor::gpio
