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
