// Versioned schema migrations for the SQLite registry. The database's PRAGMA user_version is the
// number of the last migration applied; each migration runs in its own transaction together with
// the bump of user_version, so a failed step leaves the database at the previous version.
#pragma once

#include <string_view>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "common/error/error.hpp"

namespace ew::registry {

struct Migration {
  int version = 0;               // 1, 2, 3, ... without gaps; becomes PRAGMA user_version
  std::string_view description;  // one line, logged when applied
  std::string_view sql;          // one or more statements, run as one transaction
};

// The registry's migrations, oldest first. Never edit a released entry: append a new one.
const std::vector<Migration>& RegistryMigrations();

// What ApplyMigrations did.
struct MigrationReport {
  int from_version = 0;  // user_version found when opening
  int to_version = 0;    // user_version now
  int applied = 0;       // migrations run by this call
};

// Brings `db` up to the last version of `migrations` (which must be ordered 1..N without gaps).
// Blocking; the caller owns `db` and must not use it from another thread meanwhile. Each step takes
// the write lock first (BEGIN IMMEDIATE) and rereads user_version, so two processes opening the
// same file apply each step once. Internal when the database is newer than `migrations` ("database
// schema vN is newer than this conductor (vM)"), when the list is malformed, or when a step fails;
// steps applied before a failure stay applied.
Result<MigrationReport> ApplyMigrations(SQLite::Database& db,
                                        const std::vector<Migration>& migrations = RegistryMigrations());

// PRAGMA user_version of `db`; Internal when it cannot be read.
Result<int> SchemaVersion(SQLite::Database& db);

}  // namespace ew::registry
