// The registry schema as an ordered list of migrations, and the loop that applies them.
#include "cloud-conductor/registry/migrations.hpp"

#include <string>

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>

#include "common/log/log.hpp"

namespace ew::registry {

const ew::log::Logger Log{"store"};

namespace {

// v1: the records of registry.proto. Board.status and session_peer are live state, never stored.
// users.project_id is NULL for users outside any project (admins). Deleting a user or a board
// cascades to its tokens, enrolment code and credential; projects are only deleted when empty
// (checked by the store, and NO ACTION foreign keys as a safety net).
constexpr std::string_view kV1InitialSchema = R"sql(
CREATE TABLE projects (
  id          TEXT PRIMARY KEY NOT NULL,
  name        TEXT NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL
);
CREATE TABLE users (
  id             TEXT PRIMARY KEY NOT NULL,
  name           TEXT NOT NULL UNIQUE,
  project_id     TEXT REFERENCES projects(id),
  role           TEXT NOT NULL,
  password_hash  TEXT NOT NULL,
  created_at     INTEGER NOT NULL
);
CREATE INDEX users_by_project ON users(project_id);
CREATE TABLE api_tokens (
  id            TEXT PRIMARY KEY NOT NULL,
  user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_sha256  TEXT NOT NULL UNIQUE,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE INDEX api_tokens_by_user ON api_tokens(user_id);
CREATE TABLE boards (
  id           TEXT PRIMARY KEY NOT NULL,
  name         TEXT NOT NULL,
  project_id   TEXT NOT NULL REFERENCES projects(id),
  created_at   INTEGER NOT NULL,
  enrolled_at  INTEGER NOT NULL DEFAULT 0,
  last_seen    INTEGER NOT NULL DEFAULT 0,
  labels       TEXT NOT NULL DEFAULT '{}',
  UNIQUE (project_id, name)
);
CREATE TABLE enrolment_codes (
  code_sha256  TEXT PRIMARY KEY NOT NULL,
  board_id     TEXT NOT NULL UNIQUE REFERENCES boards(id) ON DELETE CASCADE,
  expires_at   INTEGER NOT NULL
);
CREATE TABLE board_credentials (
  board_id     TEXT PRIMARY KEY NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
  salt         TEXT NOT NULL,
  iterations   INTEGER NOT NULL,
  keylen       INTEGER NOT NULL,
  derived_key  TEXT NOT NULL
);
)sql";

// v2: serverless functions. A function is a name in a project; every upload is a version (its
// package lives on disk under its sha256, never in SQLite). Deployments say which version each
// board should run and how far it got; fleets are named groups of boards; invocations keep the
// record of recent runs (the service trims them per function).
constexpr std::string_view kV2Functions = R"sql(
CREATE TABLE functions (
  id          TEXT PRIMARY KEY NOT NULL,
  project_id  TEXT NOT NULL REFERENCES projects(id),
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  UNIQUE (project_id, name)
);
CREATE TABLE function_versions (
  function_id  TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
  seq          INTEGER NOT NULL,
  version      TEXT NOT NULL,
  sha256       TEXT NOT NULL,
  size         INTEGER NOT NULL,
  spec         TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (function_id, seq),
  UNIQUE (function_id, sha256)
);
CREATE INDEX function_versions_by_sha ON function_versions(sha256);
CREATE TABLE fleets (
  id          TEXT PRIMARY KEY NOT NULL,
  project_id  TEXT NOT NULL REFERENCES projects(id),
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  UNIQUE (project_id, name)
);
CREATE TABLE fleet_boards (
  fleet_id  TEXT NOT NULL REFERENCES fleets(id) ON DELETE CASCADE,
  board_id  TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
  PRIMARY KEY (fleet_id, board_id)
);
CREATE TABLE deployments (
  function_id  TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
  board_id     TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
  version      TEXT NOT NULL,
  sha256       TEXT NOT NULL,
  size         INTEGER NOT NULL,
  state        TEXT NOT NULL,
  error        TEXT NOT NULL DEFAULT '',
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (function_id, board_id)
);
CREATE INDEX deployments_by_board ON deployments(board_id);
CREATE TABLE invocations (
  id           TEXT PRIMARY KEY NOT NULL,
  function_id  TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
  target       TEXT NOT NULL,
  status       TEXT NOT NULL,
  record       TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE INDEX invocations_by_function ON invocations(function_id, created_at);
)sql";

// v3: GPIO readings history (cloud-conductor/gpio/gpio_store.hpp). One row per edge a board
// published, and per value read or written through the conductor. time_ns is the conductor's
// receipt time (ns since the epoch), the order of every query; board_time_ns and seq are the
// board's own (monotonic) edge time and per-line sequence number, for edges only. No foreign
// key to boards: a batch must not fail because a board was deleted meanwhile; the trigger
// forgets a deleted board's history instead.
constexpr std::string_view kV3GpioReadings = R"sql(
CREATE TABLE gpio_readings (
  id             INTEGER PRIMARY KEY,
  board_id       TEXT NOT NULL,
  chip           TEXT NOT NULL,
  line           TEXT NOT NULL,
  line_offset    INTEGER NOT NULL,
  time_ns        INTEGER NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('edge', 'read', 'write')),
  value          INTEGER NOT NULL CHECK (value IN (0, 1)),
  edge           TEXT,
  board_time_ns  INTEGER,
  seq            INTEGER
);
CREATE INDEX gpio_readings_by_board ON gpio_readings(board_id, time_ns);
CREATE INDEX gpio_readings_by_line ON gpio_readings(board_id, line, time_ns);
CREATE INDEX gpio_readings_by_time ON gpio_readings(time_ns);
CREATE TRIGGER gpio_readings_of_deleted_board AFTER DELETE ON boards BEGIN
  DELETE FROM gpio_readings WHERE board_id = old.id;
END;
)sql";

// v4: GPIO edge triggers of a deployment (docs/GPIO.md), as the JSON list the board receives.
constexpr std::string_view kV4DeploymentTriggers = R"sql(
ALTER TABLE deployments ADD COLUMN triggers TEXT NOT NULL DEFAULT '[]';
)sql";

// v5: distributed flows (cloud-conductor/flows): each flow with its versions kept as exported
// (Node-RED JSON, diff-friendly), the partition each placement got from the latest version and how
// far its deployment is, and the boards that still have to stop a flow they no longer run.
constexpr std::string_view kV5Flows = R"sql(
CREATE TABLE flows (
  id          TEXT PRIMARY KEY NOT NULL,
  project_id  TEXT NOT NULL REFERENCES projects(id),
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  UNIQUE (project_id, name)
);
CREATE TABLE flow_versions (
  flow_id     TEXT NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
  version     INTEGER NOT NULL,
  cloud       TEXT NOT NULL,
  nodes       TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (flow_id, version)
);
CREATE TABLE flow_partitions (
  flow_id          TEXT NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
  board_id         TEXT NOT NULL,
  version          INTEGER NOT NULL,
  node_count       INTEGER NOT NULL,
  partition        TEXT NOT NULL,
  state            TEXT NOT NULL,
  error            TEXT NOT NULL DEFAULT '',
  running_version  INTEGER NOT NULL DEFAULT 0,
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (flow_id, board_id)
);
CREATE INDEX flow_partitions_by_board ON flow_partitions(board_id);
CREATE TABLE flow_stops (
  flow_id     TEXT NOT NULL,
  board_id    TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (flow_id, board_id)
);
)sql";

// v6: reverse tunnels (cloud-conductor/tunnels): a service maps a board's port to a conductor
// port; the conductor listens on it again after a restart. allow_cidrs: comma-separated source
// networks that may connect ("" = any); max_connections: 0 = the conductor's default.
constexpr std::string_view kV6TunnelServices = R"sql(
CREATE TABLE tunnel_services (
  id               TEXT PRIMARY KEY NOT NULL,
  project_id       TEXT NOT NULL REFERENCES projects(id),
  board_id         TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
  board_port       INTEGER NOT NULL,
  conductor_port   INTEGER NOT NULL UNIQUE,
  max_connections  INTEGER NOT NULL DEFAULT 0,
  allow_cidrs      TEXT NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL
);
CREATE INDEX tunnel_services_by_project ON tunnel_services(project_id);
)sql";

// v7: triggers (cloud-conductor/triggers): an MQTT topic filter or a cron schedule that invokes a
// function. spec is the kind's members as JSON ({topic, qos, condition} or {schedule}).
// last_fired_at and fire_count survive restarts: a schedule resumes from its last fire (at most
// one late fire after downtime). Deleting the function deletes its triggers.
constexpr std::string_view kV7Triggers = R"sql(
CREATE TABLE triggers (
  id             TEXT PRIMARY KEY NOT NULL,
  project_id     TEXT NOT NULL REFERENCES projects(id),
  function_id    TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
  kind           TEXT NOT NULL CHECK (kind IN ('mqtt', 'schedule')),
  spec           TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  last_fired_at  INTEGER NOT NULL DEFAULT 0,
  fire_count     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX triggers_by_project ON triggers(project_id, created_at);
CREATE INDEX triggers_by_function ON triggers(function_id);
)sql";

Result<void> CheckOrdered(const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Internal(fmt::format("migration list is malformed: entry {} has version {}, expected {}", i,
                                  migrations[i].version, i + 1));
    }
  }
  return Ok();
}

int ReadUserVersion(SQLite::Database& db) {
  SQLite::Statement query(db, "PRAGMA user_version");
  query.executeStep();
  return query.getColumn(0).getInt();
}

// Runs one step and its user_version bump in one write transaction. Returns false when another
// process got there first (the version read under the write lock is already past `step`).
bool ApplyStep(SQLite::Database& db, const Migration& step) {
  SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
  if (ReadUserVersion(db) >= step.version) return false;
  db.exec(std::string(step.sql));
  // PRAGMA takes no bound parameters; the value is an int from the compiled-in list, never input.
  db.exec(fmt::format("PRAGMA user_version = {}", step.version));
  transaction.commit();
  return true;
}

// v7: reserved for the MQTT and cron triggers (issue 18, branch wt-trig). Empty on this branch
// so that v8 follows without a gap; the triggers' migration takes its place when both merge.
// v8: placement statistics (cloud-conductor/placement, issue 18), so that a restarted conductor
// places calls as well as before. One row per (function, runtime) that PlacementBook measured;
// `plays` is the function's call count when written (the same in each of its rows), `recent` the
// last successes as JSON [[play, ms], ...], oldest first. Written in batches by the functions
// service (FunctionStore::PutPlacementStats), never on a call's path.
constexpr std::string_view kV8PlacementStats = R"sql(
CREATE TABLE placement_stats (
  function_id        TEXT NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
  runtime            TEXT NOT NULL,
  plays              INTEGER NOT NULL,
  successes          INTEGER NOT NULL,
  failures           INTEGER NOT NULL,
  failures_in_a_row  INTEGER NOT NULL,
  mean_ms            REAL NOT NULL,
  m2                 REAL NOT NULL,
  recent             TEXT NOT NULL,
  last_at_ms         INTEGER,
  PRIMARY KEY (function_id, runtime)
);
)sql";

// v9: agent update rollouts (cloud-conductor/agents/rollout_store.hpp, issue 16), so that a
// restarted conductor still shows them (and marks a rollout it was running "interrupted",
// docs/ARCHITECTURE.md "Agent updates"). The package is copied into the row, its raw signature
// included (the package store is files on disk, not a table). One row per board of a rollout, `position` its place in the
// rolling order. No foreign key to boards: a deleted board stays in the history of its updates.
// Finished rollouts are pruned to the newest few by the rollout manager.
constexpr std::string_view kV9AgentRollouts = R"sql(
CREATE TABLE agent_rollouts (
  id                 TEXT PRIMARY KEY NOT NULL,
  package_sha256     TEXT NOT NULL,
  package_version    TEXT NOT NULL,
  package_arch       TEXT NOT NULL,
  package_size       INTEGER NOT NULL,
  package_uploaded   INTEGER NOT NULL,
  package_signature  BLOB NOT NULL DEFAULT x'',
  created_by         TEXT NOT NULL,
  created_at         INTEGER NOT NULL,
  parallel           INTEGER NOT NULL,
  deadline_seconds   INTEGER NOT NULL,
  state              TEXT NOT NULL CHECK (state IN ('running', 'done', 'stopped', 'interrupted')),
  stop_reason        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX agent_rollouts_by_state ON agent_rollouts(state, created_at);
CREATE TABLE agent_rollout_boards (
  rollout_id       TEXT NOT NULL REFERENCES agent_rollouts(id) ON DELETE CASCADE,
  position         INTEGER NOT NULL,
  board_id         TEXT NOT NULL,
  state            TEXT NOT NULL,
  message          TEXT NOT NULL DEFAULT '',
  started_at       INTEGER NOT NULL DEFAULT 0,
  updated_at       INTEGER NOT NULL DEFAULT 0,
  agent_version    TEXT NOT NULL DEFAULT '',
  package_version  TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (rollout_id, position)
);
)sql";

// v10: connect-only tunnel services (issue 17, "listen": false): no conductor port, reachable only
// through the authenticated GET /v1/services/{id}/connect. conductor_port becomes nullable (NULL =
// connect-only); UNIQUE stays, and SQLite's UNIQUE lets any number of NULLs through, so non-null
// ports stay one service's each. SQLite cannot drop NOT NULL in place: the table is rebuilt and its
// rows (ports included) copied. Nothing references tunnel_services, so the drop and rename touch
// no other table.
constexpr std::string_view kV10ConnectOnlyServices = R"sql(
CREATE TABLE tunnel_services_v10 (
  id               TEXT PRIMARY KEY NOT NULL,
  project_id       TEXT NOT NULL REFERENCES projects(id),
  board_id         TEXT NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
  board_port       INTEGER NOT NULL,
  conductor_port   INTEGER UNIQUE,
  max_connections  INTEGER NOT NULL DEFAULT 0,
  allow_cidrs      TEXT NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL
);
INSERT INTO tunnel_services_v10 (id, project_id, board_id, board_port, conductor_port, max_connections, allow_cidrs,
                                 created_at)
  SELECT id, project_id, board_id, board_port, conductor_port, max_connections, allow_cidrs, created_at
  FROM tunnel_services;
DROP TABLE tunnel_services;
ALTER TABLE tunnel_services_v10 RENAME TO tunnel_services;
CREATE INDEX tunnel_services_by_project ON tunnel_services(project_id);
)sql";

}  // namespace

const std::vector<Migration>& RegistryMigrations() {
  static const std::vector<Migration> migrations = {
      {1, "initial registry schema", kV1InitialSchema},
      {2, "functions, versions, fleets, deployments, invocations", kV2Functions},
      {3, "GPIO readings history", kV3GpioReadings},
      {4, "GPIO triggers of deployments", kV4DeploymentTriggers},
      {5, "flows, their versions and partitions", kV5Flows},
      {6, "tunnel services", kV6TunnelServices},
      {7, "triggers", kV7Triggers},
      {8, "placement statistics", kV8PlacementStats},
      {9, "agent update rollouts", kV9AgentRollouts},
      {10, "connect-only tunnel services (nullable conductor_port)", kV10ConnectOnlyServices},
  };
  return migrations;
}

Result<int> SchemaVersion(SQLite::Database& db) {
  try {
    return ReadUserVersion(db);
  } catch (const std::exception& e) {
    return Internal(fmt::format("cannot read the database schema version: {}", e.what()));
  }
}

Result<MigrationReport> ApplyMigrations(SQLite::Database& db, const std::vector<Migration>& migrations) {
  EW_TRY_VOID(CheckOrdered(migrations));
  EW_TRY(const int found, SchemaVersion(db));
  const int latest = static_cast<int>(migrations.size());
  if (found > latest) {
    return Internal(fmt::format("database schema v{} is newer than this conductor (v{})", found, latest));
  }
  auto logger = Log();
  MigrationReport report{found, found, 0};
  for (const Migration& step : migrations) {
    if (step.version <= report.to_version) continue;
    try {
      if (ApplyStep(db, step)) {
        ++report.applied;
        logger->info("store schema migrated to v{}: {}", step.version, step.description);
      }
      report.to_version = step.version;
    } catch (const std::exception& e) {
      logger->error("store migration v{} ({}) failed: {}", step.version, step.description, e.what());
      return Internal(fmt::format("migration v{} ({}) failed: {}", step.version, step.description, e.what()));
    }
  }
  return report;
}

}  // namespace ew::registry
