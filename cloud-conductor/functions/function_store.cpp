#include "cloud-conductor/functions/function_store.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

#include <sqlite3.h>

#include <stdexcept>

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>

#include "cloud-conductor/functions/stored_record.hpp"
#include "cloud-conductor/registry/migrations.hpp"
#include "common/json/guarded_json.hpp"

namespace ew::functions {

namespace {

// A stored invocation record (written by this conductor, but from what a board or function sent):
// the store bounds its output and logs, so 16 MiB and the usual depth are generous.
const ew::json::ParseLimits kStoredRecordLimits{16u << 20, 64, false, "stored invocation record"};

// At most this many functions' Put counts are kept (PutInvocation); past it they are all
// dropped, and each function trims on its next Put.
constexpr size_t kMaxTrimCounters = 10'000;

FunctionVersion ReadVersion(SQLite::Statement& q, int first) {
  FunctionVersion v;
  v.seq = q.getColumn(first).getInt64();
  v.version = q.getColumn(first + 1).getString();
  v.sha256 = q.getColumn(first + 2).getString();
  v.size = static_cast<uint64_t>(q.getColumn(first + 3).getInt64());
  // Written by AddVersion from a spec that parsed: one that does not parse back is a damaged row.
  auto spec = containers::ParseFunctionSpec(q.getColumn(first + 4).getString());
  if (!spec) throw std::runtime_error("stored function.json of version " + v.sha256 + ": " + spec.error().message);
  v.spec = std::move(*spec);
  v.created_at = q.getColumn(first + 5).getInt64();
  return v;
}

// A function with its newest version.
constexpr const char* kSelectFunction =
    "SELECT f.id, f.project_id, f.name, f.created_at, v.seq, v.version, v.sha256, v.size, v.spec, v.created_at "
    "FROM functions f JOIN function_versions v ON v.function_id = f.id "
    "AND v.seq = (SELECT MAX(seq) FROM function_versions WHERE function_id = f.id) ";

FunctionRecord ReadFunction(SQLite::Statement& q) {
  FunctionRecord f;
  f.id = q.getColumn(0).getString();
  f.project_id = q.getColumn(1).getString();
  f.name = q.getColumn(2).getString();
  f.created_at = q.getColumn(3).getInt64();
  f.latest = ReadVersion(q, 4);
  return f;
}

constexpr const char* kSelectDeployment =
    "SELECT function_id, board_id, version, sha256, size, state, error, updated_at, triggers FROM deployments ";

Deployment ReadDeployment(SQLite::Statement& q) {
  Deployment d;
  d.function_id = q.getColumn(0).getString();
  d.board_id = q.getColumn(1).getString();
  d.version = q.getColumn(2).getString();
  d.sha256 = q.getColumn(3).getString();
  d.size = static_cast<uint64_t>(q.getColumn(4).getInt64());
  auto state = contract::ParseDeploymentState(q.getColumn(5).getString());
  if (!state) throw std::runtime_error("stored deployment of " + d.function_id + ": " + state.error().message);
  d.state = *state;
  d.error = q.getColumn(6).getString();
  d.updated_at = q.getColumn(7).getInt64();
  // Written by PutDeployment from parsed triggers; anything else reads as none.
  auto triggers = ew::gpio::ParseTriggers(nlohmann::json::parse(q.getColumn(8).getString(), nullptr, false));
  if (triggers) d.triggers = std::move(*triggers);
  return d;
}

InvocationStatus ReadStatus(const std::string& text) {
  auto status = contract::ParseInvocationStatus(text);
  if (!status) throw std::runtime_error("stored invocation: " + status.error().message);
  return *status;
}

Invocation ReadInvocation(SQLite::Statement& q) {
  Invocation i;
  i.id = q.getColumn(0).getString();
  i.function_id = q.getColumn(1).getString();
  i.target = q.getColumn(2).getString();
  i.status = ReadStatus(q.getColumn(3).getString());
  i.record = nlohmann::json::parse(q.getColumn(4).getString(), nullptr, false);
  i.created_at = q.getColumn(5).getInt64();
  return i;
}

Result<FunctionRecord> SelectFunction(registry::SqliteConnection& connection, const std::string& id) {
  auto q = connection.Prepared(std::string(kSelectFunction) + "WHERE f.id = ?");
  q->bind(1, id);
  if (!q->executeStep()) return NotFound("function " + id + " does not exist");
  return ReadFunction(*q);
}

}  // namespace

Result<std::unique_ptr<FunctionStore>> FunctionStore::Open(const std::string& path) {
  EW_TRY(SQLite::Database db, registry::OpenModuleStore(path, {"functions", 2, {"PRAGMA foreign_keys = ON"}, {}}));
  return std::make_unique<FunctionStore>(std::move(db));
}

FunctionStore::FunctionStore(SQLite::Database db) : connection_(std::move(db)), db_(connection_.database()) {}

Result<FunctionRecord> FunctionStore::AddVersion(const std::string& project_id, const std::string& name,
                                                 const std::string& new_id, const FunctionVersion& version) {
  return connection_.Run<FunctionRecord>("add function version", [&]() -> Result<FunctionRecord> {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::string id;
    {
      SQLite::Statement q(db_, "SELECT id FROM functions WHERE project_id = ? AND name = ?");
      q.bind(1, project_id);
      q.bind(2, name);
      if (q.executeStep()) id = q.getColumn(0).getString();
    }
    if (id.empty()) {
      id = new_id;
      SQLite::Statement insert(db_, "INSERT INTO functions (id, project_id, name, created_at) VALUES (?, ?, ?, ?)");
      insert.bind(1, id);
      insert.bind(2, project_id);
      insert.bind(3, name);
      insert.bind(4, version.created_at);
      insert.exec();
    }
    SQLite::Statement existing(db_, "SELECT 1 FROM function_versions WHERE function_id = ? AND sha256 = ?");
    existing.bind(1, id);
    existing.bind(2, version.sha256);
    if (!existing.executeStep()) {
      SQLite::Statement insert(db_,
                               "INSERT INTO function_versions (function_id, seq, version, sha256, size, spec, created_at) "
                               "VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM function_versions WHERE function_id = ?),"
                               " ?, ?, ?, ?, ?)");
      insert.bind(1, id);
      insert.bind(2, id);
      insert.bind(3, version.version);
      insert.bind(4, version.sha256);
      insert.bind(5, static_cast<int64_t>(version.size));
      insert.bind(6, containers::ToJson(version.spec).dump());
      insert.bind(7, version.created_at);
      insert.exec();
    }
    EW_TRY(auto record, SelectFunction(connection_, id));
    tx.commit();
    return record;
  });
}

Result<FunctionRecord> FunctionStore::GetFunction(const std::string& id) {
  return connection_.Run<FunctionRecord>("get function", [&] { return SelectFunction(connection_, id); });
}

Result<std::optional<FunctionRecord>> FunctionStore::FindFunction(const std::string& project_id,
                                                                 const std::string& name) {
  return connection_.Run<std::optional<FunctionRecord>>("find function", [&]() -> Result<std::optional<FunctionRecord>> {
    SQLite::Statement q(db_, std::string(kSelectFunction) + "WHERE f.project_id = ? AND f.name = ?");
    q.bind(1, project_id);
    q.bind(2, name);
    if (!q.executeStep()) return std::optional<FunctionRecord>();
    return std::optional<FunctionRecord>(ReadFunction(q));
  });
}

Result<Page<FunctionRecord>> FunctionStore::ListFunctions(const std::string& project_id, const PageRequest& page) {
  EW_TRY(const registry::PageStart start, registry::StartPage(page, 2));
  return connection_.Run<Page<FunctionRecord>>("list functions", [&]() -> Result<Page<FunctionRecord>> {
    SQLite::Statement q(db_, std::string(kSelectFunction) +
                                 "WHERE (? = '' OR f.project_id = ?) AND (? = 0 OR (f.name, f.id) > (?, ?)) "
                                 "ORDER BY f.name, f.id LIMIT ?");
    q.bind(1, project_id);
    q.bind(2, project_id);
    q.bind(start.BindAfter(q, 3), start.fetch_limit());
    std::vector<FunctionRecord> out;
    while (q.executeStep()) out.push_back(ReadFunction(q));
    return registry::MakePage(std::move(out), start.limit(),
                              [](const FunctionRecord& f) { return std::vector<std::string>{f.name, f.id}; });
  });
}

Result<std::vector<FunctionVersion>> FunctionStore::ListVersions(const std::string& function_id) {
  return connection_.Run<std::vector<FunctionVersion>>("list versions", [&]() -> Result<std::vector<FunctionVersion>> {
    SQLite::Statement q(db_, "SELECT seq, version, sha256, size, spec, created_at FROM function_versions "
                             "WHERE function_id = ? ORDER BY seq");
    q.bind(1, function_id);
    std::vector<FunctionVersion> out;
    while (q.executeStep()) out.push_back(ReadVersion(q, 0));
    return out;
  });
}

Result<FunctionVersion> FunctionStore::GetVersion(const std::string& function_id, const std::string& sha256) {
  return connection_.Run<FunctionVersion>("get version", [&]() -> Result<FunctionVersion> {
    auto q = connection_.Prepared("SELECT seq, version, sha256, size, spec, created_at FROM function_versions "
                                   "WHERE function_id = ? AND sha256 = ?");
    q->bind(1, function_id);
    q->bind(2, sha256);
    if (!q->executeStep()) return NotFound("function " + function_id + " has no package " + sha256);
    return ReadVersion(*q, 0);
  });
}

Result<void> FunctionStore::DeleteFunction(const std::string& id) {
  return connection_.Run<void>("delete function", [&]() -> Result<void> {
    SQLite::Transaction tx(db_);
    // Children first: in-memory stores run without foreign keys, so no cascade to rely on.
    for (const char* sql : {"DELETE FROM invocations WHERE function_id = ?", "DELETE FROM deployments WHERE function_id = ?",
                            "DELETE FROM placement_stats WHERE function_id = ?",
                            "DELETE FROM function_versions WHERE function_id = ?"}) {
      SQLite::Statement q(db_, sql);
      q.bind(1, id);
      q.exec();
    }
    SQLite::Statement q(db_, "DELETE FROM functions WHERE id = ?");
    q.bind(1, id);
    if (q.exec() == 0) return NotFound("function " + id + " does not exist");
    tx.commit();
    return Ok();
  });
}

Result<bool> FunctionStore::PackageReferenced(const std::string& sha256) {
  return connection_.Run<bool>("find package", [&]() -> Result<bool> {
    SQLite::Statement q(db_, "SELECT 1 FROM function_versions WHERE sha256 = ? LIMIT 1");
    q.bind(1, sha256);
    return q.executeStep();
  });
}

Result<void> FunctionStore::PutDeployment(const Deployment& d) {
  return connection_.Run<void>("store deployment", [&]() -> Result<void> {
    SQLite::Statement q(db_, "INSERT OR REPLACE INTO deployments "
                             "(function_id, board_id, version, sha256, size, state, error, updated_at, triggers) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, d.function_id);
    q.bind(2, d.board_id);
    q.bind(3, d.version);
    q.bind(4, d.sha256);
    q.bind(5, static_cast<int64_t>(d.size));
    q.bind(6, std::string(contract::Name(d.state)));
    q.bind(7, d.error);
    q.bind(8, d.updated_at);
    q.bind(9, ew::gpio::ToJson(d.triggers).dump());
    q.exec();
    return Ok();
  });
}

Result<bool> FunctionStore::SetDeploymentState(const std::string& function_id, const std::string& board_id,
                                               const std::string& sha256, DeploymentState state,
                                               const std::string& error, int64_t now) {
  return connection_.Run<bool>("update deployment", [&]() -> Result<bool> {
    SQLite::Statement q(db_, "UPDATE deployments SET state = ?, error = ?, updated_at = ? "
                             "WHERE function_id = ? AND board_id = ? AND sha256 = ?");
    q.bind(1, std::string(contract::Name(state)));
    q.bind(2, error);
    q.bind(3, now);
    q.bind(4, function_id);
    q.bind(5, board_id);
    q.bind(6, sha256);
    return q.exec() > 0;
  });
}

Result<std::optional<Deployment>> FunctionStore::GetDeployment(const std::string& function_id,
                                                               const std::string& board_id) {
  return connection_.Run<std::optional<Deployment>>("get deployment", [&]() -> Result<std::optional<Deployment>> {
    auto q = connection_.Prepared(std::string(kSelectDeployment) + "WHERE function_id = ? AND board_id = ?");
    q->bind(1, function_id);
    q->bind(2, board_id);
    if (!q->executeStep()) return std::optional<Deployment>();
    return std::optional<Deployment>(ReadDeployment(*q));
  });
}

Result<std::vector<Deployment>> FunctionStore::ListDeployments(const std::string& function_id) {
  return connection_.Run<std::vector<Deployment>>("list deployments", [&]() -> Result<std::vector<Deployment>> {
    SQLite::Statement q(db_, std::string(kSelectDeployment) + "WHERE function_id = ? ORDER BY board_id");
    q.bind(1, function_id);
    std::vector<Deployment> out;
    while (q.executeStep()) out.push_back(ReadDeployment(q));
    return out;
  });
}

Result<Page<Deployment>> FunctionStore::ListDeployments(const std::string& function_id, const PageRequest& page) {
  EW_TRY(const registry::PageStart start, registry::StartPage(page, 1));
  return connection_.Run<Page<Deployment>>("list deployments", [&]() -> Result<Page<Deployment>> {
    SQLite::Statement q(db_, std::string(kSelectDeployment) +
                                 "WHERE function_id = ? AND (? = 0 OR board_id > ?) ORDER BY board_id LIMIT ?");
    q.bind(1, function_id);
    q.bind(start.BindAfter(q, 2), start.fetch_limit());
    std::vector<Deployment> out;
    while (q.executeStep()) out.push_back(ReadDeployment(q));
    return registry::MakePage(std::move(out), start.limit(),
                              [](const Deployment& d) { return std::vector<std::string>{d.board_id}; });
  });
}

Result<std::vector<Deployment>> FunctionStore::BoardDeployments(const std::string& board_id) {
  return connection_.Run<std::vector<Deployment>>("list board deployments", [&]() -> Result<std::vector<Deployment>> {
    SQLite::Statement q(db_, std::string(kSelectDeployment) + "WHERE board_id = ? ORDER BY function_id");
    q.bind(1, board_id);
    std::vector<Deployment> out;
    while (q.executeStep()) out.push_back(ReadDeployment(q));
    return out;
  });
}

Result<void> FunctionStore::DeleteDeployment(const std::string& function_id, const std::string& board_id) {
  return connection_.Run<void>("delete deployment", [&]() -> Result<void> {
    SQLite::Statement q(db_, "DELETE FROM deployments WHERE function_id = ? AND board_id = ?");
    q.bind(1, function_id);
    q.bind(2, board_id);
    if (q.exec() == 0) return NotFound("function " + function_id + " is not deployed on board " + board_id);
    return Ok();
  });
}

Result<bool> FunctionStore::PackageDeployedTo(const std::string& sha256, const std::string& board_id) {
  return connection_.Run<bool>("check deployment", [&]() -> Result<bool> {
    SQLite::Statement q(db_, "SELECT 1 FROM deployments WHERE sha256 = ? AND board_id = ? LIMIT 1");
    q.bind(1, sha256);
    q.bind(2, board_id);
    return q.executeStep();
  });
}

Result<void> FunctionStore::PutInvocation(const Invocation& i, size_t keep) {
  return connection_.Run<void>("store invocation", [&]() -> Result<void> {
    SQLite::Transaction tx(db_);
    auto q = connection_.Prepared("INSERT OR REPLACE INTO invocations (id, function_id, target, status, record, "
                                   "created_at) VALUES (?, ?, ?, ?, ?, ?)");
    q->bind(1, i.id);
    q->bind(2, i.function_id);
    q->bind(3, i.target);
    q->bind(4, std::string(contract::Name(i.status)));
    q->bind(5, i.record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    q->bind(6, i.created_at);
    q->exec();
    // The first Put of a function in this process trims at once (older records may be there).
    const auto since = puts_since_trim_.find(i.function_id);
    const bool trim_now = since == puts_since_trim_.end() || since->second + 1 >= PutsPerTrim(keep);
    const size_t puts_after = trim_now ? 0 : since->second + 1;
    if (trim_now) {
      SQLite::Statement trim(db_, "DELETE FROM invocations WHERE function_id = ? AND id NOT IN "
                                  "(SELECT id FROM invocations WHERE function_id = ? ORDER BY created_at DESC, rowid DESC "
                                  "LIMIT ?)");
      trim.bind(1, i.function_id);
      trim.bind(2, i.function_id);
      trim.bind(3, static_cast<int64_t>(keep));
      trim.exec();
    }
    tx.commit();
    // Counted once committed: a Put that failed changed nothing, its count included.
    if (puts_since_trim_.size() >= kMaxTrimCounters) puts_since_trim_.clear();  // each then trims once more
    puts_since_trim_[i.function_id] = puts_after;
    return Ok();
  });
}

Result<Invocation> FunctionStore::GetInvocation(const std::string& function_id, const std::string& id) {
  return connection_.Run<Invocation>("get invocation", [&]() -> Result<Invocation> {
    SQLite::Statement q(db_, "SELECT id, function_id, target, status, record, created_at FROM invocations "
                             "WHERE function_id = ? AND id = ?");
    q.bind(1, function_id);
    q.bind(2, id);
    if (!q.executeStep()) return NotFound("invocation " + id + " of function " + function_id + " does not exist");
    return ReadInvocation(q);
  });
}

Result<size_t> FunctionStore::FailRunningInvocations(const std::string& error) {
  return connection_.Run<size_t>("fail running invocations", [&]() -> Result<size_t> {
    SQLite::Statement q(db_, "UPDATE invocations SET status = 'failed', "
                             "record = json_set(record, '$.status', 'failed', '$.error', ?) WHERE status = 'running'");
    q.bind(1, error);
    return static_cast<size_t>(q.exec());
  });
}

Result<Page<InvocationSummary>> FunctionStore::ListInvocations(const std::string& function_id,
                                                               const PageRequest& page,
                                                               const InvocationFilter& filter) {
  EW_TRY(const registry::PageStart start, registry::StartPage(page, 2, registry::CursorFields::kIntegers));
  return connection_.Run<Page<InvocationSummary>>("list invocations", [&]() -> Result<Page<InvocationSummary>> {
    SQLite::Statement q(db_, "SELECT id, function_id, target, status, json_remove(record, '$.output', '$.logs'), "
                             "created_at, rowid FROM invocations "
                             "WHERE function_id = ? AND created_at >= ? AND created_at <= ? "
                             "AND (? = '' OR target = ?) AND (? = 0 OR (created_at, rowid) < (?, ?)) "
                             "ORDER BY created_at DESC, rowid DESC LIMIT ?");
    q.bind(1, function_id);
    q.bind(2, filter.from.value_or(std::numeric_limits<int64_t>::min()));
    q.bind(3, filter.to.value_or(std::numeric_limits<int64_t>::max()));
    q.bind(4, filter.target);
    q.bind(5, filter.target);
    q.bind(start.BindAfter(q, 6), start.fetch_limit());
    std::vector<std::pair<InvocationSummary, int64_t>> rows;
    while (q.executeStep()) {
      InvocationSummary i;
      i.id = q.getColumn(0).getString();
      i.function_id = q.getColumn(1).getString();
      i.target = q.getColumn(2).getString();
      i.status = ReadStatus(q.getColumn(3).getString());
      // The record came from a board: read it through the guarded reader like any other input.
      auto stored = ew::json::Parse(q.getColumn(4).getString(), kStoredRecordLimits);
      i.record = SummarizeRecord(stored ? std::move(*stored) : nlohmann::json());
      i.created_at = q.getColumn(5).getInt64();
      rows.emplace_back(std::move(i), q.getColumn(6).getInt64());
    }
    auto paged = registry::MakePage(std::move(rows), start.limit(), [](const auto& row) {
      return std::vector<std::string>{std::to_string(row.first.created_at), std::to_string(row.second)};
    });
    Page<InvocationSummary> out;
    out.next_cursor = std::move(paged.next_cursor);
    for (auto& row : paged.items) out.items.push_back(std::move(row.first));
    return out;
  });
}

}  // namespace ew::functions

namespace ew::functions {

Result<void> FunctionStore::PutPlacementStats(const std::vector<placement::FunctionState>& functions) {
  if (functions.empty()) return Ok();
  return connection_.Run<void>("store placement statistics", [&]() -> Result<void> {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement exists(db_, "SELECT 1 FROM functions WHERE id = ?");
    SQLite::Statement clear(db_, "DELETE FROM placement_stats WHERE function_id = ?");
    SQLite::Statement insert(db_,
                             "INSERT INTO placement_stats (function_id, runtime, plays, successes, failures, "
                             "failures_in_a_row, mean_ms, m2, recent, last_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const auto& function : functions) {
      exists.reset();
      exists.bind(1, function.function_id);
      if (!exists.executeStep()) continue;  // deleted since it was measured
      clear.reset();
      clear.bind(1, function.function_id);
      clear.exec();
      for (const auto& runtime : function.runtimes) {
        nlohmann::json recent = nlohmann::json::array();
        for (const auto& sample : runtime.stats.recent) recent.push_back({sample.play, sample.duration.count()});
        insert.reset();
        insert.bind(1, function.function_id);
        insert.bind(2, runtime.runtime);
        insert.bind(3, static_cast<int64_t>(function.plays));
        insert.bind(4, static_cast<int64_t>(runtime.stats.successes));
        insert.bind(5, static_cast<int64_t>(runtime.stats.failures));
        insert.bind(6, static_cast<int64_t>(runtime.stats.failures_in_a_row));
        insert.bind(7, runtime.stats.mean_ms);
        insert.bind(8, runtime.stats.m2);
        insert.bind(9, recent.dump());
        if (runtime.last_at) {
          insert.bind(10, static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    runtime.last_at->time_since_epoch())
                                                    .count()));
        } else {
          insert.bind(10);
        }
        insert.exec();
      }
    }
    tx.commit();
    return Ok();
  });
}

Result<std::vector<placement::FunctionState>> FunctionStore::LoadPlacementStats() {
  using Out = std::vector<placement::FunctionState>;
  return connection_.Run<Out>("load placement statistics", [&]() -> Result<Out> {
    SQLite::Statement q(db_, "SELECT function_id, runtime, plays, successes, failures, failures_in_a_row, mean_ms, m2, "
                             "recent, last_at_ms FROM placement_stats ORDER BY function_id, runtime");
    Out out;
    while (q.executeStep()) {
      const std::string function_id = q.getColumn(0).getString();
      if (out.empty() || out.back().function_id != function_id) out.push_back({function_id, 0, {}});
      placement::FunctionState& function = out.back();
      function.plays = std::max<uint64_t>(function.plays, static_cast<uint64_t>(q.getColumn(2).getInt64()));
      placement::RuntimeState runtime;
      runtime.runtime = q.getColumn(1).getString();
      runtime.stats.successes = static_cast<uint64_t>(q.getColumn(3).getInt64());
      runtime.stats.failures = static_cast<uint64_t>(q.getColumn(4).getInt64());
      runtime.stats.failures_in_a_row = static_cast<uint64_t>(q.getColumn(5).getInt64());
      runtime.stats.mean_ms = q.getColumn(6).getDouble();
      runtime.stats.m2 = q.getColumn(7).getDouble();
      // Written by PutPlacementStats; a damaged row throws, and Run reports it (Internal).
      for (const auto& sample : nlohmann::json::parse(q.getColumn(8).getString())) {
        runtime.stats.recent.push_back(
            placement::Sample{sample.at(0).get<uint64_t>(), placement::Millis(sample.at(1).get<double>())});
      }
      if (!q.getColumn(9).isNull()) {
        runtime.last_at = Clock::TimePoint(std::chrono::milliseconds(q.getColumn(9).getInt64()));
      }
      function.runtimes.push_back(std::move(runtime));
    }
    return out;
  });
}

}  // namespace ew::functions
