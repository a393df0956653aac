// The registry's table of triggers (schema v7, registry/migrations.cpp) on a connection of its
// own, as the tunnels' ServiceStore does; and a read of the GPIO edge triggers that deployments
// hold (schema v4), so that GET /v1/triggers lists every kind. Thread-safe and blocking: call from
// the blocking pool or before the io loop runs. No method changes anything when it returns an error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include "cloud-conductor/registry/sqlite_connection.hpp"
#include "cloud-conductor/triggers/trigger_spec.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::triggers {

// A stored trigger with what survives a restart of its status.
struct StoredTrigger {
  TriggerSpec spec;
  int64_t last_fired_at = 0;  // Unix seconds; 0 = never
  uint64_t fire_count = 0;
};

// The edge triggers of one deployment (function on a board), as the deployment stores them.
struct GpioTriggerRow {
  std::string project_id;
  std::string function_id;
  std::string board_id;
  nlohmann::json triggers;  // [{"line", "edge", "debounceMs"}]
  int64_t updated_at = 0;
};

class TriggerStore {
 public:
  // Opens `path` (the registry's file, already migrated). ":memory:" gives a private database
  // with the whole schema applied: for tests.
  static Result<std::unique_ptr<TriggerStore>> Open(const std::string& path);
  explicit TriggerStore(SQLite::Database db);

  // Stores `spec` unless its project has `max_per_project` triggers already (ResourceExhausted,
  // counted and inserted in one statement). NotFound when the function or project does not exist;
  // Conflict for a duplicate id.
  Result<void> Insert(const TriggerSpec& spec, size_t max_per_project);
  Result<StoredTrigger> Get(const std::string& id);
  // Every trigger of `project_id` ("" = of every project), oldest first.
  Result<std::vector<StoredTrigger>> List(const std::string& project_id);
  // NotFound when there is no such trigger.
  Result<void> Delete(const std::string& id);
  // One more fire at `at` (Unix seconds). A trigger deleted meanwhile is not an error (false).
  Result<bool> RecordFire(const std::string& id, int64_t at);
  // Deployments of `project_id`'s functions ("" = every project) that hold edge triggers.
  Result<std::vector<GpioTriggerRow>> ListGpio(const std::string& project_id);

 private:
  registry::SqliteConnection connection_;
};

}  // namespace ew::conductor::triggers
