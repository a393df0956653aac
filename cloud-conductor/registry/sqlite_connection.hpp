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
#include <unordered_map>
#include <utility>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

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

// How a module's store (functions, flows, GPIO readings, tunnel services) opens the registry file.
struct ModuleStore {
  std::string_view what;                    // "functions", "flows", ...: named in errors
  int min_version = 1;                      // the registry schema version that has its tables
  std::vector<std::string> file_pragmas;    // run on a store file, e.g. "PRAGMA foreign_keys = ON"
  std::vector<std::string> memory_pragmas;  // run on ":memory:" once migrated (unit tests)
};

// Opens `path`, which the registry created and migrated, and checks that its schema is at
// `module.min_version` or later; ":memory:" is migrated here instead. Then runs the pragmas.
// Internal "store <path> has no <what> schema (v<n>)" for an older file, or "cannot open the
// <what> store <path>: <why>".
Result<SQLite::Database> OpenModuleStore(const std::string& path, const ModuleStore& module);

class SqliteConnection {
 public:
  explicit SqliteConnection(SQLite::Database db);
  // Closing checkpoints the WAL through the -shm: when the -shm cannot be touched the checkpoint
  // is skipped (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE; the WAL stays and the next open replays it).
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // Runs `body` (returning Result<T>) holding the connection's mutex, so calls from the blocking
  // pool are serialised on the one connection (SQLite allows one writer anyway; reads are
  // short). Any exception becomes an Error: SQLite's through MapSqliteError, others (malformed
  // stored data, allocation) Internal "<action> failed: …", logged.
  // First, the store's WAL index (<file>-shm, memory-mapped by SQLite) is checked: when it was
  // made immutable, sits on a read-only file system or was truncated, touching the mapping would
  // kill the process with SIGBUS, so Run answers Unavailable "store unavailable: <file>-shm …"
  // without calling `body` until the file is usable again.
  template <typename T, typename Body>
  Result<T> Run(std::string_view action, const SqliteConstraints& constraints, Body&& body) {
    std::lock_guard lock(mu_);
    if (auto usable = CheckSharedMemory(action); !usable) return tl::unexpected<Error>(usable.error());
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

  // A statement of `sql` prepared once on this connection and kept, for the statements of hot
  // paths (preparing one costs more than running it: SQLite parses the text and resolves the
  // schema each time). Inside Run only. When the handle goes, the statement is reset (its read
  // of the database ends) and its bindings cleared. The same text asked again while a handle
  // of it is alive, and texts past kMaxCachedStatements, get a statement of their own. Throws
  // SQLite::Exception (which Run maps) when `sql` does not prepare; nothing is kept then.
  class CachedStatement {
   public:
    CachedStatement(CachedStatement&& other) noexcept;
    CachedStatement(const CachedStatement&) = delete;
    CachedStatement& operator=(const CachedStatement&) = delete;
    CachedStatement& operator=(CachedStatement&&) = delete;
    ~CachedStatement();
    SQLite::Statement& operator*() const { return *statement_; }
    SQLite::Statement* operator->() const { return statement_; }

   private:
    friend class SqliteConnection;
    CachedStatement(SQLite::Statement* kept, bool* in_use) : statement_(kept), in_use_(in_use) {}
    explicit CachedStatement(std::unique_ptr<SQLite::Statement> own) : statement_(own.get()), own_(std::move(own)) {}
    SQLite::Statement* statement_;
    bool* in_use_ = nullptr;                  // the kept statement's flag; null for an own one
    std::unique_ptr<SQLite::Statement> own_;
  };
  CachedStatement Prepared(const std::string& sql);
  static constexpr size_t kMaxCachedStatements = 64;

 private:
  static Error Failed(std::string_view action, const char* what);
  // Ok, or why the -shm cannot be touched (immutable, read-only file system, truncated below one
  // 32 KiB region). Five system calls; logs the first refusal and the recovery. Under mu_.
  Result<void> CheckSharedMemory(std::string_view action);

  struct Kept {
    std::unique_ptr<SQLite::Statement> statement;
    bool in_use = false;
  };

  std::mutex mu_;
  SQLite::Database db_;
  std::string shm_path_;      // "<file>-shm"; empty for ":memory:"
  std::string shm_refusal_;   // GUARDED_BY(mu_): why the last check refused, "" when usable
  std::unordered_map<std::string, Kept> statements_;  // GUARDED_BY(mu_), by SQL text
};

}  // namespace ew::registry
