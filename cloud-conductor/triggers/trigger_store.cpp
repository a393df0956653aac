#include "cloud-conductor/triggers/trigger_store.hpp"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>

#include "cloud-conductor/registry/migrations.hpp"

namespace ew::conductor::triggers {

namespace {

constexpr int kVersionWithTriggers = 7;

constexpr const char* kColumns = "id, project_id, function_id, kind, spec, created_at, last_fired_at, fire_count";

Result<StoredTrigger> ReadRow(SQLite::Statement& q) {
  TriggerSpec base;
  base.id = q.getColumn(0).getString();
  base.project_id = q.getColumn(1).getString();
  base.function_id = q.getColumn(2).getString();
  base.kind = q.getColumn(3).getString() == "schedule" ? TriggerKind::kSchedule : TriggerKind::kMqtt;
  base.created_at = q.getColumn(5).getInt64();
  auto details = nlohmann::json::parse(q.getColumn(4).getString(), nullptr, false);
  StoredTrigger out;
  EW_TRY(out.spec, TriggerSpec::FromStored(std::move(base), details));
  out.last_fired_at = q.getColumn(6).getInt64();
  out.fire_count = static_cast<uint64_t>(q.getColumn(7).getInt64());
  return out;
}

}  // namespace

Result<std::unique_ptr<TriggerStore>> TriggerStore::Open(const std::string& path) {
  const std::vector<std::string> pragmas = {"PRAGMA foreign_keys = ON"};
  EW_TRY(SQLite::Database db, registry::OpenModuleStore(path, {"triggers", kVersionWithTriggers, pragmas, pragmas}));
  return std::make_unique<TriggerStore>(std::move(db));
}

TriggerStore::TriggerStore(SQLite::Database db) : connection_(std::move(db)) {}

Result<void> TriggerStore::Insert(const TriggerSpec& s, size_t max_per_project) {
  registry::SqliteConstraints constraints;
  constraints.unique = {{"triggers.id", Error{ErrorCode::kConflict, "trigger " + s.id + " exists already"}}};
  constraints.foreign_key = Error{ErrorCode::kNotFound, "function " + s.function_id + " or its project does not exist"};
  return connection_.Run<void>("store trigger", constraints, [&]() -> Result<void> {
    // The count and the insert in one statement: two creates at once cannot both pass the cap.
    SQLite::Statement q(connection_.database(),
                        fmt::format("INSERT INTO triggers ({}) SELECT ?, ?, ?, ?, ?, ?, 0, 0 "
                                    "WHERE (SELECT COUNT(*) FROM triggers WHERE project_id = ?) < ?",
                                    kColumns));
    q.bind(1, s.id);
    q.bind(2, s.project_id);
    q.bind(3, s.function_id);
    q.bind(4, std::string(KindName(s.kind)));
    q.bind(5, s.Details().dump());
    q.bind(6, static_cast<int64_t>(s.created_at));
    q.bind(7, s.project_id);
    q.bind(8, static_cast<int64_t>(max_per_project));
    if (q.exec() == 0)
      return ResourceExhausted(fmt::format("project {} has {} triggers (the limit): delete one first", s.project_id,
                                           max_per_project));
    return Ok();
  });
}

Result<StoredTrigger> TriggerStore::Get(const std::string& id) {
  return connection_.Run<StoredTrigger>("read trigger", [&]() -> Result<StoredTrigger> {
    SQLite::Statement q(connection_.database(), fmt::format("SELECT {} FROM triggers WHERE id = ?", kColumns));
    q.bind(1, id);
    if (!q.executeStep()) return NotFound("trigger " + id + " does not exist");
    return ReadRow(q);
  });
}

Result<std::vector<StoredTrigger>> TriggerStore::List(const std::string& project_id) {
  return connection_.Run<std::vector<StoredTrigger>>("list triggers", [&]() -> Result<std::vector<StoredTrigger>> {
    SQLite::Statement q(connection_.database(),
                        fmt::format("SELECT {} FROM triggers WHERE ? = '' OR project_id = ? ORDER BY created_at, id",
                                    kColumns));
    q.bind(1, project_id);
    q.bind(2, project_id);
    std::vector<StoredTrigger> out;
    while (q.executeStep()) {
      EW_TRY(auto row, ReadRow(q));
      out.push_back(std::move(row));
    }
    return out;
  });
}

Result<void> TriggerStore::Delete(const std::string& id) {
  return connection_.Run<void>("delete trigger", [&]() -> Result<void> {
    SQLite::Statement q(connection_.database(), "DELETE FROM triggers WHERE id = ?");
    q.bind(1, id);
    if (q.exec() == 0) return NotFound("trigger " + id + " does not exist");
    return Ok();
  });
}

Result<bool> TriggerStore::RecordFire(const std::string& id, int64_t at) {
  return connection_.Run<bool>("record trigger fire", [&]() -> Result<bool> {
    SQLite::Statement q(connection_.database(),
                        "UPDATE triggers SET fire_count = fire_count + 1, last_fired_at = MAX(last_fired_at, ?) "
                        "WHERE id = ?");
    q.bind(1, at);
    q.bind(2, id);
    return q.exec() > 0;
  });
}

Result<std::vector<GpioTriggerRow>> TriggerStore::ListGpio(const std::string& project_id) {
  return connection_.Run<std::vector<GpioTriggerRow>>("list GPIO triggers", [&]() -> Result<std::vector<GpioTriggerRow>> {
    SQLite::Statement q(connection_.database(),
                        "SELECT f.project_id, d.function_id, d.board_id, d.triggers, d.updated_at "
                        "FROM deployments d JOIN functions f ON f.id = d.function_id "
                        "WHERE d.triggers != '[]' AND (? = '' OR f.project_id = ?) ORDER BY f.created_at, d.board_id");
    q.bind(1, project_id);
    q.bind(2, project_id);
    std::vector<GpioTriggerRow> out;
    while (q.executeStep()) {
      GpioTriggerRow row;
      row.project_id = q.getColumn(0).getString();
      row.function_id = q.getColumn(1).getString();
      row.board_id = q.getColumn(2).getString();
      row.triggers = nlohmann::json::parse(q.getColumn(3).getString(), nullptr, false);
      if (!row.triggers.is_array()) continue;  // written by the deployer as a JSON list; never expected
      row.updated_at = q.getColumn(4).getInt64();
      out.push_back(std::move(row));
    }
    return out;
  });
}

}  // namespace ew::conductor::triggers
