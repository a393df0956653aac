// The registry's tables of agent update rollouts (schema v9, registry/migrations.cpp) on a
// connection of its own, as the tunnel services' store does: each rollout with its package and one
// row per board. RolloutManager writes through it from the blocking pool (never from the router's
// strand) and reads it once at start. Thread-safe and blocking. No method changes anything when it
// returns an error.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "cloud-conductor/agents/rollout.hpp"
#include "cloud-conductor/registry/sqlite_connection.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::agents {

class RolloutStore {
 public:
  // Opens `path` (the registry's file, already migrated to v9). ":memory:" gives a private
  // database with the whole schema applied: for tests.
  static Result<std::unique_ptr<RolloutStore>> Open(const std::string& path);
  explicit RolloutStore(SQLite::Database db);

  // Writes `rollout` as it is now (the rollout row and every board row), in one transaction.
  Result<void> Put(const Rollout& rollout);
  // Every stored rollout, newest first (created_at, then id).
  Result<std::vector<Rollout>> List();
  // Deletes the finished rollouts (any state but running) beyond the newest `keep` of them, with
  // their boards. Returns how many went.
  Result<size_t> PruneFinished(size_t keep);

 private:
  registry::SqliteConnection connection_;
};

}  // namespace ew::conductor::agents
