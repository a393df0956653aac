#include "cloud-conductor/registry/sqlite_connection.hpp"

#include "cloud-conductor/registry/migrations.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/log/log.hpp"

namespace ew::registry {

namespace {

const ew::log::Logger Log{"store"};

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// Why the store as a whole cannot serve, for the SQLite codes that say so (the disk, a lock
// held by another process, a damaged file); nullptr for failures of one statement.
const char* StoreFault(int code) {
  switch (code) {
    case SQLITE_FULL:
      return "the disk holding the store is full";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "the store is locked by another process or connection";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "the store file is damaged";
    case SQLITE_IOERR:
      return "the disk holding the store failed a read or write";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return "the store file or its directory cannot be written";
    case SQLITE_PROTOCOL:
      return "the store's lock protocol failed (another process is fighting over it)";
    default:
      return nullptr;
  }
}

}  // namespace

Error MapSqliteError(const SQLite::Exception& e, std::string_view action, const SqliteConstraints& constraints) {
  const std::string_view what = e.what();
  if (e.getErrorCode() == SQLITE_CONSTRAINT) {
    const int extended = e.getExtendedErrorCode();
    if (extended == SQLITE_CONSTRAINT_FOREIGNKEY) {
      if (constraints.foreign_key) return *constraints.foreign_key;
      return Error{ErrorCode::kNotFound, fmt::format("{}: a record it names does not exist", action)};
    }
    for (const auto& [columns, error] : constraints.unique) {
      if (EndsWith(what, fmt::format(": {}", columns))) return error;
    }
    if (extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY)
      return Error{ErrorCode::kConflict, fmt::format("{}: already exists", action)};
    return Error{ErrorCode::kConflict, fmt::format("{}: {}", action, what)};
  }
  if (const char* fault = StoreFault(e.getErrorCode())) {
    // Nothing was written (SQLite rolls the statement back); the caller answers 503 and may retry.
    Log()->error("store {} failed: {}: {} (sqlite code {})", action, fault, what, e.getExtendedErrorCode());
    return Error{ErrorCode::kUnavailable, fmt::format("store unavailable: {} ({}: {})", fault, action, what)};
  }
  Log()->error("store {} failed: {} (sqlite code {})", action, what, e.getExtendedErrorCode());
  return Error{ErrorCode::kInternal, fmt::format("{} failed: {}", action, what)};
}

Error SqliteConnection::Failed(std::string_view action, const char* what) {
  Log()->error("store {} failed: {}", action, what);
  return Error{ErrorCode::kInternal, fmt::format("{} failed: {}", action, what)};
}

SqliteConnection::SqliteConnection(SQLite::Database db) : db_(std::move(db)) {
  // SQLite's own absolute name of the file; "" (or null) for ":memory:" and temporary databases.
  const char* file = sqlite3_db_filename(db_.getHandle(), "main");
  if (file != nullptr && *file != '\0') shm_path_ = std::string(file) + "-shm";
}

namespace {

// SQLite maps the WAL index in 32 KiB regions; a live -shm is never shorter than one.
constexpr off_t kShmRegionBytes = 32 * 1024;

// Why writing into a MAP_SHARED mapping of `path` would raise SIGBUS, or "" when it would not
// (or when there is no -shm: not in WAL mode, or not opened yet). Looks without opening the
// file: closing any descriptor of the -shm would drop every POSIX lock this process holds on it,
// SQLite's included (the lock that tells another process's connection the WAL index is in use:
// without it, a `conductor backup` opening the store took itself for the first user, truncated
// the -shm under this process, and the next store call died of SIGBUS).
std::string ShmRefusal(const std::string& path) {
  struct statx stx {};
  if (::statx(AT_FDCWD, path.c_str(), 0, STATX_SIZE, &stx) != 0 || (stx.stx_mask & STATX_SIZE) == 0) {
    // No statx (a seccomp filter, an old kernel): the size from stat, the flags unknown.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "";
    stx = {};
    stx.stx_size = static_cast<uint64_t>(st.st_size);
  }
  if (static_cast<off_t>(stx.stx_size) < kShmRegionBytes)
    return "was truncated to " + std::to_string(stx.stx_size) + " bytes";
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0) return "is on a read-only file system";
  const uint64_t flags = STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND;
  if ((stx.stx_attributes_mask & stx.stx_attributes & flags) != 0) return "was made immutable (chattr +i or +a)";
  return "";
}

}  // namespace

SqliteConnection::CachedStatement::CachedStatement(CachedStatement&& other) noexcept
    : statement_(other.statement_), in_use_(other.in_use_), own_(std::move(other.own_)) {
  other.statement_ = nullptr;
  other.in_use_ = nullptr;
}

SqliteConnection::CachedStatement::~CachedStatement() {
  if (!in_use_) return;  // moved from, or an own statement (finalised with own_)
  statement_->tryReset();
  try {
    statement_->clearBindings();
  } catch (const SQLite::Exception&) {
    // sqlite3_clear_bindings only fails on a misuse; the next use binds every parameter anyway.
  }
  *in_use_ = false;
}

SqliteConnection::CachedStatement SqliteConnection::Prepared(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end() && statements_.size() < kMaxCachedStatements)
    it = statements_.emplace(sql, Kept{std::make_unique<SQLite::Statement>(db_, sql), false}).first;
  // Past the limit, or its kept one in use: a statement of its own.
  if (it == statements_.end() || it->second.in_use) return CachedStatement(std::make_unique<SQLite::Statement>(db_, sql));
  it->second.in_use = true;
  return CachedStatement(it->second.statement.get(), &it->second.in_use);
}

SqliteConnection::~SqliteConnection() {
  statements_.clear();  // finalised while the database is open
  if (shm_path_.empty()) return;
  const std::string why = ShmRefusal(shm_path_);
  if (why.empty()) return;
  Log()->warn("store {} {}: closing without a checkpoint (the WAL is replayed at the next start)", shm_path_, why);
  sqlite3_db_config(db_.getHandle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
}

Result<void> SqliteConnection::CheckSharedMemory(std::string_view action) {
  if (shm_path_.empty()) return Ok();
  std::string why = ShmRefusal(shm_path_);
  if (why != shm_refusal_) {
    if (!why.empty()) {
      Log()->error("store {} {}: store calls answer 503 until it is fixed (touching it would kill the conductor "
                   "with SIGBUS)",
                   shm_path_, why);
    } else {
      Log()->info("store {} is usable again", shm_path_);
    }
    shm_refusal_ = why;
  }
  if (why.empty()) return Ok();
  return tl::unexpected(Error{ErrorCode::kUnavailable, fmt::format("store unavailable: {} {} ({} not attempted)",
                                                                   shm_path_, why, action)});
}

SQLite::Database OpenSqliteDatabase(const std::string& path) {
  return SQLite::Database(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                          static_cast<int>(kSqliteBusyTimeout.count()));
}

Result<SQLite::Database> OpenModuleStore(const std::string& path, const ModuleStore& module) {
  try {
    SQLite::Database db = OpenSqliteDatabase(path);
    const bool memory = path == ":memory:";
    if (memory) {
      EW_TRY_VOID(ApplyMigrations(db));
    } else {
      EW_TRY(int version, SchemaVersion(db));
      if (version < module.min_version) {
        return Internal("store " + path + " has no " + std::string(module.what) + " schema (v" +
                        std::to_string(version) + ")");
      }
    }
    for (const auto& pragma : memory ? module.memory_pragmas : module.file_pragmas) db.exec(pragma);
    return db;
  } catch (const std::exception& e) {
    return Internal(fmt::format("cannot open the {} store {}: {}", module.what, path, e.what()));
  }
}

}  // namespace ew::registry
