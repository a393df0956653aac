#include "cloud-conductor/flows/flow_store.hpp"

#include <map>

#include <sqlite3.h>

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>

#include "cloud-conductor/registry/migrations.hpp"
#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"

namespace ew::conductor::flows {

namespace {

using Json = nlohmann::json;

// What this conductor stored itself, after it validated it: generous limits, read back through
// the guarded reader all the same.
const ew::json::ParseLimits kStoredFlowLimits{64u << 20, 64, false, "stored flow"};

const ew::log::Logger Log{"store"};

Json ReadJson(const std::string& text) {
  auto value = ew::json::Parse(text, kStoredFlowLimits);
  return value ? std::move(*value) : Json();
}

// A flow with its latest version.
constexpr const char* kSelectFlow =
    "SELECT f.id, f.project_id, f.name, f.created_at, v.version, v.cloud, v.created_at "
    "FROM flows f JOIN flow_versions v ON v.flow_id = f.id "
    "AND v.version = (SELECT MAX(version) FROM flow_versions WHERE flow_id = f.id) ";

FlowRecord ReadFlow(SQLite::Statement& q) {
  FlowRecord f;
  f.id = q.getColumn(0).getString();
  f.project_id = q.getColumn(1).getString();
  f.name = q.getColumn(2).getString();
  f.created_at = q.getColumn(3).getInt64();
  f.version = q.getColumn(4).getInt64();
  f.cloud = q.getColumn(5).getString();
  f.updated_at = q.getColumn(6).getInt64();
  return f;
}

Result<FlowRecord> SelectFlow(SQLite::Database& db, const std::string& id) {
  SQLite::Statement q(db, std::string(kSelectFlow) + "WHERE f.id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return NotFound("flow " + id + " does not exist");
  return ReadFlow(q);
}

constexpr const char* kSelectPartition =
    "SELECT flow_id, board_id, version, node_count, partition, state, error, running_version, updated_at "
    "FROM flow_partitions ";

PartitionRecord ReadPartition(SQLite::Statement& q) {
  PartitionRecord p;
  p.flow_id = q.getColumn(0).getString();
  p.board_id = q.getColumn(1).getString();
  p.version = q.getColumn(2).getInt64();
  p.node_count = q.getColumn(3).getInt64();
  p.partition = ReadJson(q.getColumn(4).getString());
  // A row this code did not write (a newer conductor's state) reads as failed, with its name kept.
  auto state = contract::ParsePartitionState(q.getColumn(5).getString());
  p.state = state.value_or(contract::PartitionState::kFailed);
  p.error = q.getColumn(6).getString();
  p.running_version = q.getColumn(7).getInt64();
  p.updated_at = q.getColumn(8).getInt64();
  return p;
}

}  // namespace

Result<std::unique_ptr<FlowStore>> FlowStore::Open(const std::string& path) {
  // In memory (unit tests) there are no projects for the flows to point at.
  EW_TRY(SQLite::Database db, registry::OpenModuleStore(path, {"flows", 5, {"PRAGMA foreign_keys = ON"},
                                                               {"PRAGMA foreign_keys = OFF"}}));
  return std::make_unique<FlowStore>(std::move(db));
}

FlowStore::FlowStore(SQLite::Database db) : connection_(std::move(db)), db_(connection_.database()) {}

Result<FlowRecord> FlowStore::AddVersion(const std::string& project_id, const std::string& name,
                                         const std::string& new_id, const std::string& cloud, const Json& nodes,
                                         int64_t now, const PartitionMaker& version_for,
                                         size_t max_flows_per_project) {
  return connection_.Run<FlowRecord>("add flow version", [&]() -> Result<FlowRecord> {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::string id;
    int64_t version = 1;
    {
      SQLite::Statement q(db_,
                          "SELECT f.id, (SELECT COALESCE(MAX(version), 0) FROM flow_versions WHERE flow_id = f.id) "
                          "FROM flows f WHERE project_id = ? AND name = ?");
      q.bind(1, project_id);
      q.bind(2, name);
      if (q.executeStep()) {
        id = q.getColumn(0).getString();
        version = q.getColumn(1).getInt64() + 1;
      }
    }
    if (id.empty()) {
      SQLite::Statement count(db_, "SELECT COUNT(*) FROM flows WHERE project_id = ?");
      count.bind(1, project_id);
      count.executeStep();
      if (static_cast<uint64_t>(count.getColumn(0).getInt64()) >= max_flows_per_project)
        return ResourceExhausted("project " + project_id + " has " + std::to_string(max_flows_per_project) +
                                 " flows, the limit ([flows] max_per_project): delete one or post a new version of one");
      id = new_id;
      SQLite::Statement insert(db_, "INSERT INTO flows (id, project_id, name, created_at) VALUES (?, ?, ?, ?)");
      insert.bind(1, id);
      insert.bind(2, project_id);
      insert.bind(3, name);
      insert.bind(4, now);
      insert.exec();
    }
    EW_TRY(auto partitions, version_for(id, version));
    SQLite::Statement insert(db_, "INSERT INTO flow_versions (flow_id, version, cloud, nodes, created_at) VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, id);
    insert.bind(2, version);
    insert.bind(3, cloud);
    insert.bind(4, nodes.dump());
    insert.bind(5, now);
    insert.exec();
    SQLite::Statement clear(db_, "DELETE FROM flow_partitions WHERE flow_id = ?");
    clear.bind(1, id);
    clear.exec();
    for (const auto& p : partitions) {
      SQLite::Statement put(db_,
                            "INSERT INTO flow_partitions (flow_id, board_id, version, node_count, partition, state, error, "
                            "running_version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      put.bind(1, id);
      put.bind(2, p.board_id);
      put.bind(3, version);
      put.bind(4, p.node_count);
      put.bind(5, p.partition.dump());
      put.bind(6, std::string(contract::Name(p.state)));
      put.bind(7, p.error);
      put.bind(8, p.running_version);
      put.bind(9, now);
      put.exec();
      // A board given the flow again no longer has to stop it.
      SQLite::Statement unstop(db_, "DELETE FROM flow_stops WHERE flow_id = ? AND board_id = ?");
      unstop.bind(1, id);
      unstop.bind(2, p.board_id);
      unstop.exec();
    }
    EW_TRY(auto record, SelectFlow(db_, id));
    tx.commit();
    return record;
  });
}

Result<FlowRecord> FlowStore::GetFlow(const std::string& id) {
  return connection_.Run<FlowRecord>("get flow", [&] { return SelectFlow(db_, id); });
}

Result<std::optional<FlowRecord>> FlowStore::FindFlow(const std::string& project_id, const std::string& name) {
  return connection_.Run<std::optional<FlowRecord>>("find flow", [&]() -> Result<std::optional<FlowRecord>> {
    SQLite::Statement q(db_, std::string(kSelectFlow) + "WHERE f.project_id = ? AND f.name = ?");
    q.bind(1, project_id);
    q.bind(2, name);
    if (!q.executeStep()) return std::optional<FlowRecord>();
    return std::optional<FlowRecord>(ReadFlow(q));
  });
}

Result<Page<FlowRecord>> FlowStore::ListFlows(const std::string& project_id, const PageRequest& page) {
  EW_TRY(const registry::PageStart start, registry::StartPage(page, 2));
  return connection_.Run<Page<FlowRecord>>("list flows", [&]() -> Result<Page<FlowRecord>> {
    SQLite::Statement q(db_, std::string(kSelectFlow) +
                                 "WHERE (? = '' OR f.project_id = ?) AND (? = 0 OR (f.name, f.id) > (?, ?)) "
                                 "ORDER BY f.name, f.id LIMIT ?");
    q.bind(1, project_id);
    q.bind(2, project_id);
    q.bind(start.BindAfter(q, 3), start.fetch_limit());
    std::vector<FlowRecord> out;
    while (q.executeStep()) out.push_back(ReadFlow(q));
    return registry::MakePage(std::move(out), start.limit(),
                              [](const FlowRecord& f) { return std::vector<std::string>{f.name, f.id}; });
  });
}

Result<FlowVersion> FlowStore::GetVersion(const std::string& flow_id, int64_t version) {
  return connection_.Run<FlowVersion>("get flow version", [&]() -> Result<FlowVersion> {
    SQLite::Statement q(db_, "SELECT version, cloud, nodes, created_at FROM flow_versions WHERE flow_id = ? AND version = ?");
    q.bind(1, flow_id);
    q.bind(2, version);
    if (!q.executeStep()) return NotFound(fmt::format("flow {} has no version {}", flow_id, version));
    FlowVersion v;
    v.version = q.getColumn(0).getInt64();
    v.cloud = q.getColumn(1).getString();
    v.nodes = ReadJson(q.getColumn(2).getString());
    v.created_at = q.getColumn(3).getInt64();
    return v;
  });
}

Result<void> FlowStore::DeleteFlow(const std::string& id) {
  return connection_.Run<void>("delete flow", [&]() -> Result<void> {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    for (const char* sql : {"DELETE FROM flow_partitions WHERE flow_id = ?", "DELETE FROM flow_versions WHERE flow_id = ?"}) {
      SQLite::Statement q(db_, sql);
      q.bind(1, id);
      q.exec();
    }
    SQLite::Statement q(db_, "DELETE FROM flows WHERE id = ?");
    q.bind(1, id);
    if (q.exec() == 0) return NotFound("flow " + id + " does not exist");
    tx.commit();
    return Ok();
  });
}

Result<std::vector<FlowStore::FlowAccess>> FlowStore::ListFlowAccess() {
  return connection_.Run<std::vector<FlowAccess>>("list flow access", [&]() -> Result<std::vector<FlowAccess>> {
    SQLite::Statement q(db_,
                        "SELECT f.id, f.project_id, p.board_id FROM flows f "
                        "LEFT JOIN flow_partitions p ON p.flow_id = f.id AND p.board_id != '' ORDER BY f.id, p.board_id");
    std::vector<FlowAccess> out;
    while (q.executeStep()) {
      std::string id = q.getColumn(0).getString();
      if (out.empty() || out.back().flow_id != id) out.push_back(FlowAccess{id, q.getColumn(1).getString(), {}});
      if (!q.getColumn(2).isNull()) out.back().boards.push_back(q.getColumn(2).getString());
    }
    return out;
  });
}

Result<std::vector<PartitionRecord>> FlowStore::SelectPartitions(const char* action, const char* where_order,
                                                                  const std::string& key) {
  return connection_.Run<std::vector<PartitionRecord>>(action, [&]() -> Result<std::vector<PartitionRecord>> {
    SQLite::Statement q(db_, std::string(kSelectPartition) + where_order);
    q.bind(1, key);
    std::vector<PartitionRecord> out;
    while (q.executeStep()) out.push_back(ReadPartition(q));
    return out;
  });
}

Result<std::vector<PartitionRecord>> FlowStore::ListPartitions(const std::string& flow_id) {
  return SelectPartitions("list flow partitions", "WHERE flow_id = ? ORDER BY board_id", flow_id);
}

Result<std::vector<PartitionRecord>> FlowStore::BoardPartitions(const std::string& board_id) {
  return SelectPartitions("list board partitions", "WHERE board_id = ? ORDER BY flow_id", board_id);
}

Result<bool> FlowStore::SetPartitionState(const std::string& flow_id, const std::string& board_id, int64_t version,
                                          contract::PartitionState state, const std::string& error, int64_t running_version,
                                          int64_t now) {
  return connection_.Run<bool>("update flow partition", [&]() -> Result<bool> {
    SQLite::Statement q(db_,
                        "UPDATE flow_partitions SET state = ?, error = ?, "
                        "running_version = CASE WHEN ? > 0 THEN ? ELSE running_version END, updated_at = ? "
                        "WHERE flow_id = ? AND board_id = ? AND version = ?");
    q.bind(1, std::string(contract::Name(state)));
    q.bind(2, error);
    q.bind(3, running_version);
    q.bind(4, running_version);
    q.bind(5, now);
    q.bind(6, flow_id);
    q.bind(7, board_id);
    q.bind(8, version);
    return q.exec() > 0;
  });
}

Result<void> FlowStore::AddStop(const std::string& flow_id, const std::string& board_id, int64_t now) {
  return connection_.Run<void>("add flow stop", [&]() -> Result<void> {
    SQLite::Statement q(db_, "INSERT OR IGNORE INTO flow_stops (flow_id, board_id, created_at) VALUES (?, ?, ?)");
    q.bind(1, flow_id);
    q.bind(2, board_id);
    q.bind(3, now);
    q.exec();
    return Ok();
  });
}

Result<void> FlowStore::RemoveStop(const std::string& flow_id, const std::string& board_id) {
  return connection_.Run<void>("remove flow stop", [&]() -> Result<void> {
    SQLite::Statement q(db_, "DELETE FROM flow_stops WHERE flow_id = ? AND board_id = ?");
    q.bind(1, flow_id);
    q.bind(2, board_id);
    q.exec();
    return Ok();
  });
}

Result<std::vector<std::string>> FlowStore::BoardStops(const std::string& board_id) {
  return connection_.Run<std::vector<std::string>>("list flow stops", [&]() -> Result<std::vector<std::string>> {
    SQLite::Statement q(db_, "SELECT flow_id FROM flow_stops WHERE board_id = ? ORDER BY flow_id");
    q.bind(1, board_id);
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  });
}

}  // namespace ew::conductor::flows
