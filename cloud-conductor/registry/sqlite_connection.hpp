// The one way a conductor store talks to SQLite: a connection behind a mutex, and one mapping of
// SQLite failures to ew::Error codes. The registry, the functions store and the GPIO store each
// hold one SqliteConnection on the same file (WAL: readers run beside the writer).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>

#include "common/error/error.hpp"

namespace ew::registry {

// How long a statement waits for another connection's write lock before failing (SQLITE_BUSY).
inline constexpr std::chrono::milliseconds kSqliteBusyTimeout{5'000};

// What a constraint failure means for the call that hit it; unset parts take the defaults of
// MapSqliteError.
struct SqliteConstraints {
  // UNIQUE / PRIMARY KEY failures, keyed by the column list SQLite reports at the end of its
  // message ("UNIQUE constraint failed: boards.project_id, boards.name").
  std::vector<std::pair<std::string_view, Error>> unique;
  // A FOREIGN KEY failure (SQLite does not say which key): a missing parent on insert, remaining
  // children on delete.
  std::optional<Error> foreign_key;
};

// The Error for a SQLite failure during `action`:
//  - a FOREIGN KEY failure: constraints.foreign_key, else NotFound "<action>: a record it names
//    does not exist";
//  - a UNIQUE / PRIMARY KEY failure: the matching constraints.unique entry, else Conflict
//    "<action>: already exists"; any other constraint (CHECK, NOT NULL): Conflict with SQLite's text;
//  - a fault of the store as a whole (disk full, I/O error, locked by another process past the
//    busy timeout, damaged file, unwritable file): Unavailable "store unavailable: <why> (<action>:
//    <sqlite text>)", logged at error; REST answers 503 with it and nothing was written;
//  - anything else: Internal "<action> failed: …", logged at error.
Error MapSqliteError(const SQLite::Exception& e, std::string_view action, const SqliteConstraints& constraints = {});

// Opens (creating) the SQLite file at `path` (":memory:": a private database) with the busy
// timeout. Throws SQLite::Exception like SQLiteCpp; the stores' Open functions catch it.
SQLite::Database OpenSqliteDatabase(const std::string& path);

class SqliteConnection {
 public:
  explicit SqliteConnection(SQLite::Database db) : db_(std::move(db)) {}

  // Runs `body` (returning Result<T>) holding the connection's mutex, so calls from the blocking
  // pool are serialised on the one connection (SQLite allows one writer anyway; reads are
  // short). Any exception becomes an Error: SQLite's through MapSqliteError, others (malformed
  // stored data, allocation) Internal "<action> failed: …", logged.
  template <typename T, typename Body>
  Result<T> Run(std::string_view action, const SqliteConstraints& constraints, Body&& body) {
    std::lock_guard lock(mu_);
    try {
      return body();
    } catch (const SQLite::Exception& e) {
      return tl::unexpected<Error>(MapSqliteError(e, action, constraints));
    } catch (const std::exception& e) {
      return tl::unexpected<Error>(Failed(action, e.what()));
    }
  }
  template <typename T, typename Body>
  Result<T> Run(std::string_view action, Body&& body) {
    static const SqliteConstraints kNone;
    return Run<T>(action, kNone, std::forward<Body>(body));
  }

  // The connection, for statements inside Run only (GUARDED_BY the mutex Run holds).
  SQLite::Database& database() { return db_; }

 private:
  static Error Failed(std::string_view action, const char* what);

  std::mutex mu_;
  SQLite::Database db_;
};

}  // namespace ew::registry
