#include "cloud-conductor/gpio/gpio_store.hpp"

#include <algorithm>
#include <cctype>

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>

#include "cloud-conductor/registry/migrations.hpp"
#include "cloud-conductor/registry/page.hpp"

namespace ew::conductor::gpio {

namespace {

constexpr int kVersionWithReadings = 3;

Result<ReadingKind> KindFromName(const std::string& name) {
  if (name == "edge") return ReadingKind::kEdge;
  if (name == "read") return ReadingKind::kRead;
  if (name == "write") return ReadingKind::kWrite;
  return Internal("gpio_readings holds an unknown kind \"" + name + "\"");
}

bool IsDigits(std::string_view text) {
  return !text.empty() && text.size() <= 10 &&
         std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// The WHERE clause for a line as the board names it: its name or its offset, optionally on one
// chip ("chip:line"). Appends the values to bind to `binds`.
std::string LineCondition(const std::string& line, std::vector<std::string>* binds) {
  std::string chip;
  std::string rest = line;
  if (auto colon = line.find(':'); colon != std::string::npos) {
    chip = line.substr(0, colon);
    rest = line.substr(colon + 1);
  }
  std::string condition;
  if (IsDigits(rest)) {
    condition = " AND line_offset = CAST(? AS INTEGER)";
  } else {
    condition = " AND line = ?";
  }
  binds->push_back(rest);
  if (!chip.empty()) {
    condition += " AND chip = ?";
    binds->push_back(chip);
  }
  return condition;
}

Result<Reading> ReadRow(SQLite::Statement& q) {
  Reading r;
  r.board_id = q.getColumn(0).getString();
  r.chip = q.getColumn(1).getString();
  r.line = q.getColumn(2).getString();
  r.offset = q.getColumn(3).getInt64();
  r.time_ns = q.getColumn(4).getInt64();
  EW_TRY(r.kind, KindFromName(q.getColumn(5).getString()));
  r.value = q.getColumn(6).getInt();
  if (!q.getColumn(7).isNull()) r.edge = q.getColumn(7).getString();
  if (!q.getColumn(8).isNull()) r.board_time_ns = q.getColumn(8).getInt64();
  if (!q.getColumn(9).isNull()) r.seq = q.getColumn(9).getInt64();
  return r;
}

}  // namespace

std::string_view ReadingKindName(ReadingKind kind) {
  switch (kind) {
    case ReadingKind::kEdge: return "edge";
    case ReadingKind::kRead: return "read";
    case ReadingKind::kWrite: return "write";
  }
  return "read";
}

Result<void> CheckReading(const Reading& r) {
  if (r.board_id.empty()) return InvalidArgument("board_id is required");
  if (r.chip.empty()) return InvalidArgument("chip is required");
  if (r.line.empty()) return InvalidArgument("line is required");
  if (r.offset < 0) return InvalidArgument("offset must not be negative");
  if (r.time_ns <= 0) return InvalidArgument("time_ns must be positive");
  if (r.value != 0 && r.value != 1) return InvalidArgument("value must be 0 or 1");
  if (r.kind == ReadingKind::kEdge) {
    if (r.edge != "rising" && r.edge != "falling") return InvalidArgument("edge must be rising or falling");
    if (!r.board_time_ns || !r.seq) return InvalidArgument("an edge needs the board's timestamp and seq");
  } else if (!r.edge.empty() || r.board_time_ns || r.seq) {
    return InvalidArgument("only edges carry edge, timestamp and seq");
  }
  return Ok();
}

Result<std::unique_ptr<GpioStore>> GpioStore::Open(const std::string& path) {
  // WAL (set by the registry) without an fsync per commit: a power cut may lose the last batches
  // of readings, never corrupt the file. Per connection, so set here too.
  const std::vector<std::string> pragmas = {"PRAGMA synchronous = NORMAL"};
  EW_TRY(SQLite::Database db, registry::OpenModuleStore(path, {"GPIO readings", kVersionWithReadings, pragmas, pragmas}));
  return std::make_unique<GpioStore>(std::move(db));
}

GpioStore::GpioStore(SQLite::Database db) : connection_(std::move(db)), db_(connection_.database()) {}

Result<void> GpioStore::Insert(const std::vector<Reading>& readings) {
  for (size_t i = 0; i < readings.size(); ++i) {
    if (auto valid = CheckReading(readings[i]); !valid)
      return InvalidArgument(fmt::format("reading {}: {}", i, valid.error().message));
  }
  if (readings.empty()) return Ok();
  return connection_.Run<void>("store GPIO readings", [&]() -> Result<void> {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement insert(db_,
                             "INSERT INTO gpio_readings (board_id, chip, line, line_offset, time_ns, kind, value, edge, "
                             "board_time_ns, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const Reading& r : readings) {
      insert.reset();
      insert.clearBindings();
      insert.bind(1, r.board_id);
      insert.bind(2, r.chip);
      insert.bind(3, r.line);
      insert.bind(4, r.offset);
      insert.bind(5, r.time_ns);
      insert.bindNoCopy(6, ReadingKindName(r.kind).data());
      insert.bind(7, r.value);
      if (!r.edge.empty()) insert.bind(8, r.edge);
      if (r.board_time_ns) insert.bind(9, *r.board_time_ns);
      if (r.seq) insert.bind(10, *r.seq);
      insert.exec();
    }
    tx.commit();
    return Ok();
  });
}

Result<ReadingPage> GpioStore::Query(const ReadingQuery& query) {
  if (query.board_id.empty()) return InvalidArgument("board is required");
  // A cursor is the (time_ns, id) of the oldest reading of the previous page.
  EW_TRY(const registry::PageStart start, registry::StartPage({query.limit, query.cursor}, 2,
                                                               registry::CursorFields::kIntegers, kMaxQueryLimit));
  if (query.from_ns > query.to_ns) return InvalidArgument("from must not be after to");
  return connection_.Run<ReadingPage>("query GPIO readings", [&]() -> Result<ReadingPage> {
    std::vector<std::string> line_binds;
    const std::string line = query.line.empty() ? "" : LineCondition(query.line, &line_binds);
    // Newest first to apply the limit to the end of the range; one more row tells truncation.
    SQLite::Statement q(db_,
                        "SELECT board_id, chip, line, line_offset, time_ns, kind, value, edge, board_time_ns, seq, id "
                        "FROM gpio_readings WHERE board_id = ? AND time_ns >= ? AND time_ns < ?" +
                            line + " AND (? = 0 OR (time_ns, id) < (?, ?)) ORDER BY time_ns DESC, id DESC LIMIT ?");
    int index = 1;
    q.bind(index++, query.board_id);
    q.bind(index++, query.from_ns);
    q.bind(index++, query.to_ns);
    for (const auto& value : line_binds) q.bind(index++, value);
    index = start.BindAfter(q, index);
    q.bind(index++, start.fetch_limit());
    ReadingPage page;
    int64_t oldest_id = 0;
    while (q.executeStep()) {
      if (page.readings.size() == query.limit) {
        page.truncated = true;
        break;
      }
      EW_TRY(Reading r, ReadRow(q));
      oldest_id = q.getColumn(10).getInt64();
      page.readings.push_back(std::move(r));
    }
    if (page.truncated && !page.readings.empty())
      page.next_cursor = registry::EncodeCursor({std::to_string(page.readings.back().time_ns), std::to_string(oldest_id)});
    std::reverse(page.readings.begin(), page.readings.end());
    return page;
  });
}

Result<int64_t> GpioStore::PruneBefore(int64_t before_ns, int64_t max_rows) {
  if (max_rows < 1) return InvalidArgument("max_rows must be positive");
  return connection_.Run<int64_t>("prune GPIO readings", [&]() -> Result<int64_t> {
    SQLite::Statement q(db_,
                        "DELETE FROM gpio_readings WHERE id IN "
                        "(SELECT id FROM gpio_readings WHERE time_ns < ? ORDER BY time_ns LIMIT ?)");
    q.bind(1, before_ns);
    q.bind(2, max_rows);
    return static_cast<int64_t>(q.exec());
  });
}

}  // namespace ew::conductor::gpio
