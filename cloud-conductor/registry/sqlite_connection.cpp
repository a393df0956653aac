#include "cloud-conductor/registry/sqlite_connection.hpp"

#include <sqlite3.h>

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

SQLite::Database OpenSqliteDatabase(const std::string& path) {
  return SQLite::Database(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                          static_cast<int>(kSqliteBusyTimeout.count()));
}

}  // namespace ew::registry
