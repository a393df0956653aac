// The conductor's records of distributed flows (schema v5 of registry/migrations.cpp), on a
// connection of its own to the registry's SQLite file: flows, every version as exported (the
// Node-RED JSON, kept for `GET /v1/flows/{id}?version=`), the partition each placement (a board,
// or "" for the cloud) got from the latest version with its deployment state, and the boards that
// still have to stop a flow (they were offline when it was deleted or moved off them).
//
// Thread-safe and blocking (every method holds the connection's mutex): call from the blocking
// pool. No method changes anything when it returns an error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include "cloud-conductor/registry/page.hpp"
#include "cloud-conductor/registry/sqlite_connection.hpp"
#include "common/contract/states.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::flows {

struct FlowRecord {
  std::string id;  // "flw-…"
  std::string project_id;
  std::string name;
  int64_t created_at = 0;
  int64_t version = 0;     // the latest version
  std::string cloud;       // of the latest version: "conductor" | "external"
  int64_t updated_at = 0;  // when the latest version was stored
};

struct FlowVersion {
  int64_t version = 0;
  std::string cloud;
  nlohmann::json nodes;  // the Node-RED export as posted
  int64_t created_at = 0;
};

// A partition's state is contract::PartitionState (stored by its name).
struct PartitionRecord {
  std::string flow_id;
  std::string board_id;  // "" = the cloud
  int64_t version = 0;
  int64_t node_count = 0;
  nlohmann::json partition;  // flows::ToJson(Partition)
  contract::PartitionState state = contract::PartitionState::kPending;
  std::string error;
  int64_t running_version = 0;  // what the board last said it runs (0 = nothing known)
  int64_t updated_at = 0;
};

using registry::Page;
using registry::PageRequest;

class FlowStore {
 public:
  // Opens `path` (the registry's file, already migrated by OpenSqliteStore). ":memory:" gives a
  // private database with the schema applied: for tests.
  static Result<std::unique_ptr<FlowStore>> Open(const std::string& path);
  explicit FlowStore(SQLite::Database db);

  // Stores a new version of flow `name` in `project_id` (creating the flow with id `new_id` on its
  // first version) and replaces its partitions by `partitions` (their version is set to the new
  // one). `version_for` receives the flow id and the new version number before anything is
  // written, and returns the partitions for them (the partitioner puts both in every partition);
  // an error from it aborts everything. A new flow past `max_flows_per_project` flows in its
  // project is ResourceExhausted (counted and inserted in one transaction). Returns the flow record.
  using PartitionMaker =
      std::function<Result<std::vector<PartitionRecord>>(const std::string& flow_id, int64_t version)>;
  Result<FlowRecord> AddVersion(const std::string& project_id, const std::string& name, const std::string& new_id,
                                const std::string& cloud, const nlohmann::json& nodes, int64_t now,
                                const PartitionMaker& version_for, size_t max_flows_per_project = SIZE_MAX);
  Result<FlowRecord> GetFlow(const std::string& id);
  // The flow named `name` in `project_id`, nullopt when there is none.
  Result<std::optional<FlowRecord>> FindFlow(const std::string& project_id, const std::string& name);
  // project_id "" lists every flow. Ordered by name (then id), one page.
  Result<Page<FlowRecord>> ListFlows(const std::string& project_id, const PageRequest& page);
  // NotFound for an unknown version.
  Result<FlowVersion> GetVersion(const std::string& flow_id, int64_t version);
  // Removes the flow, its versions and partitions; NotFound when absent.
  Result<void> DeleteFlow(const std::string& id);
  // Every flow's project and the boards its partitions are on (for the router's authorization).
  struct FlowAccess {
    std::string flow_id;
    std::string project_id;
    std::vector<std::string> boards;
  };
  Result<std::vector<FlowAccess>> ListFlowAccess();

  // Partitions of the flow's latest version, the cloud ("") first, then by board.
  Result<std::vector<PartitionRecord>> ListPartitions(const std::string& flow_id);
  // Partitions placed on `board_id`, of every flow.
  Result<std::vector<PartitionRecord>> BoardPartitions(const std::string& board_id);
  // Sets state, error (and running_version when > 0) only if the partition is still of `version`
  // (a newer deploy wins). Returns false when it did not apply.
  Result<bool> SetPartitionState(const std::string& flow_id, const std::string& board_id, int64_t version,
                                 contract::PartitionState state, const std::string& error, int64_t running_version,
                                 int64_t now);

  // Boards that must stop a flow they may still run.
  Result<void> AddStop(const std::string& flow_id, const std::string& board_id, int64_t now);
  Result<void> RemoveStop(const std::string& flow_id, const std::string& board_id);
  Result<std::vector<std::string>> BoardStops(const std::string& board_id);

 private:
  // The partitions matching `where_order` (one `?`, bound to `key`), read in one statement.
  Result<std::vector<PartitionRecord>> SelectPartitions(const char* action, const char* where_order,
                                                        const std::string& key);

  registry::SqliteConnection connection_;
  SQLite::Database& db_;  // connection_'s, inside connection_.Run only
};

}  // namespace ew::conductor::flows
