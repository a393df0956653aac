#include "cloud-conductor/agents/rollout_store.hpp"

#include <map>

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

namespace ew::conductor::agents {

namespace {

constexpr int kVersionWithRollouts = 9;
namespace upd = contract::update;

}  // namespace

Result<std::unique_ptr<RolloutStore>> RolloutStore::Open(const std::string& path) {
  const std::vector<std::string> pragmas = {"PRAGMA foreign_keys = ON"};
  EW_TRY(SQLite::Database db,
         registry::OpenModuleStore(path, {"agent rollouts", kVersionWithRollouts, pragmas, pragmas}));
  return std::make_unique<RolloutStore>(std::move(db));
}

RolloutStore::RolloutStore(SQLite::Database db) : connection_(std::move(db)) {}

Result<void> RolloutStore::Put(const Rollout& r) {
  return connection_.Run<void>("store agent rollout", [&]() -> Result<void> {
    auto& db = connection_.database();
    SQLite::Transaction transaction(db);
    // An upsert, not INSERT OR REPLACE: replacing the row would cascade to its boards.
    SQLite::Statement rollout(db,
                              "INSERT INTO agent_rollouts (id, package_sha256, package_version, package_arch, "
                              "package_size, package_uploaded, created_by, created_at, parallel, deadline_seconds, "
                              "state, stop_reason, package_signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                              "ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                              "stop_reason = excluded.stop_reason");
    rollout.bind(1, r.id);
    rollout.bind(2, r.package.sha256);
    rollout.bind(3, r.package.version);
    rollout.bind(4, r.package.architecture);
    rollout.bind(5, static_cast<int64_t>(r.package.size));
    rollout.bind(6, static_cast<int64_t>(r.package.uploaded_at));
    rollout.bind(7, r.created_by);
    rollout.bind(8, static_cast<int64_t>(r.created_at));
    rollout.bind(9, static_cast<int64_t>(r.parallel));
    rollout.bind(10, static_cast<int64_t>(r.deadline_seconds));
    rollout.bind(11, std::string(Name(r.state)));
    rollout.bind(12, r.stop_reason);
    rollout.bind(13, static_cast<const void*>(r.package.signature.data()), static_cast<int>(r.package.signature.size()));
    rollout.exec();
    SQLite::Statement board(db,
                            "INSERT INTO agent_rollout_boards (rollout_id, position, board_id, state, message, "
                            "started_at, updated_at, agent_version, package_version) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rollout_id, position) DO UPDATE SET "
                            "board_id = excluded.board_id, state = excluded.state, message = excluded.message, "
                            "started_at = excluded.started_at, updated_at = excluded.updated_at, "
                            "agent_version = excluded.agent_version, package_version = excluded.package_version");
    for (size_t i = 0; i < r.boards.size(); ++i) {
      const BoardUpdate& b = r.boards[i];
      board.reset();
      board.bind(1, r.id);
      board.bind(2, static_cast<int64_t>(i));
      board.bind(3, b.board_id);
      board.bind(4, std::string(upd::Name(b.state)));
      board.bind(5, b.message);
      board.bind(6, static_cast<int64_t>(b.started_at));
      board.bind(7, static_cast<int64_t>(b.updated_at));
      board.bind(8, b.agent_version);
      board.bind(9, b.package_version);
      board.exec();
    }
    transaction.commit();
    return Ok();
  });
}

Result<std::vector<Rollout>> RolloutStore::List() {
  return connection_.Run<std::vector<Rollout>>("list agent rollouts", [&]() -> Result<std::vector<Rollout>> {
    auto& db = connection_.database();
    std::vector<Rollout> out;
    std::map<std::string, size_t> index;
    SQLite::Statement q(db,
                        "SELECT id, package_sha256, package_version, package_arch, package_size, package_uploaded, "
                        "created_by, created_at, parallel, deadline_seconds, state, stop_reason, package_signature "
                        "FROM agent_rollouts "
                        "ORDER BY created_at DESC, id DESC");
    while (q.executeStep()) {
      Rollout r;
      r.id = q.getColumn(0).getString();
      r.package.sha256 = q.getColumn(1).getString();
      r.package.version = q.getColumn(2).getString();
      r.package.architecture = q.getColumn(3).getString();
      r.package.size = static_cast<uint64_t>(q.getColumn(4).getInt64());
      r.package.uploaded_at = q.getColumn(5).getInt64();
      r.created_by = q.getColumn(6).getString();
      r.created_at = q.getColumn(7).getInt64();
      r.parallel = static_cast<size_t>(q.getColumn(8).getInt64());
      r.deadline_seconds = q.getColumn(9).getInt64();
      EW_TRY(r.state, ParseRolloutState(q.getColumn(10).getString()));
      r.stop_reason = q.getColumn(11).getString();
      const SQLite::Column signature = q.getColumn(12);
      if (signature.getBytes() > 0)
        r.package.signature.assign(static_cast<const char*>(signature.getBlob()), static_cast<size_t>(signature.getBytes()));
      index[r.id] = out.size();
      out.push_back(std::move(r));
    }
    SQLite::Statement boards(db,
                             "SELECT rollout_id, board_id, state, message, started_at, updated_at, agent_version, "
                             "package_version FROM agent_rollout_boards ORDER BY rollout_id, position");
    while (boards.executeStep()) {
      auto it = index.find(boards.getColumn(0).getString());
      if (it == index.end()) continue;
      BoardUpdate b;
      b.board_id = boards.getColumn(1).getString();
      EW_TRY(b.state, upd::ParseUpdateState(boards.getColumn(2).getString()));
      b.message = boards.getColumn(3).getString();
      b.started_at = boards.getColumn(4).getInt64();
      b.updated_at = boards.getColumn(5).getInt64();
      b.agent_version = boards.getColumn(6).getString();
      b.package_version = boards.getColumn(7).getString();
      out[it->second].boards.push_back(std::move(b));
    }
    return out;
  });
}

Result<size_t> RolloutStore::PruneFinished(size_t keep) {
  return connection_.Run<size_t>("prune agent rollouts", [&]() -> Result<size_t> {
    SQLite::Statement q(connection_.database(),
                        "DELETE FROM agent_rollouts WHERE id IN (SELECT id FROM agent_rollouts WHERE state != "
                        "'running' ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?)");
    q.bind(1, static_cast<int64_t>(keep));
    return static_cast<size_t>(q.exec());
  });
}

}  // namespace ew::conductor::agents
