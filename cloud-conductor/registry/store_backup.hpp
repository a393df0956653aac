// `edgewire-conductor backup DEST`: a consistent copy of the conductor's SQLite store, taken with
// SQLite's online backup API while the conductor runs (WAL: the copy reads one snapshot and the
// conductor keeps writing). Restore is documented in docs/ARCHITECTURE.md → Backup and restore.
#pragma once

#include <cstdint>
#include <string>

#include "common/error/error.hpp"

namespace ew::registry {

struct BackupOptions {
  std::string source;       // the store file ([store] path)
  std::string destination;  // the copy; must not exist yet unless `overwrite`
  bool overwrite = false;   // --force: replace an existing destination
};

struct BackupReport {
  int64_t pages = 0;       // pages copied
  int64_t bytes = 0;       // size of the copy
  int schema_version = 0;  // PRAGMA user_version of the copy
};

// Copies `source` into a temporary file beside `destination` (sqlite3_backup_step over one read
// transaction, so the copy is one snapshot), checks it (PRAGMA quick_check), fsyncs it and renames
// it over `destination`: a failed or interrupted backup never leaves a file that looks complete.
// Blocking. Errors name the file at fault: NotFound when `source` does not exist (a backup never
// creates a store), InvalidArgument when it is not a SQLite database or `destination` exists
// without `overwrite`, Unavailable when the store stays locked, PermissionDenied / ResourceExhausted
// / Internal for I/O failures of the destination.
Result<BackupReport> BackupStore(const BackupOptions& options);

}  // namespace ew::registry
