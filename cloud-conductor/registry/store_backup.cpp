// The online backup runs on raw sqlite3 handles: SQLiteCpp has no wrapper for sqlite3_backup_*.
#include "cloud-conductor/registry/store_backup.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "common/posix/file_io.hpp"

namespace ew::registry {

namespace fs = std::filesystem;

namespace {

// Pages per backup step; between steps the copy lets other connections' locks through.
constexpr int kPagesPerStep = 256;
// How long the backup keeps retrying a store another process holds locked.
constexpr std::chrono::seconds kLockedFor{30};

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

Result<DbHandle> Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbHandle db(raw);
  if (rc != SQLITE_OK) {
    const std::string why = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return Internal(fmt::format("cannot open {}: {}", path, why));
  }
  sqlite3_busy_timeout(db.get(), 5'000);
  return db;
}

// The error for a failed step, naming the file at fault.
Error StepError(int rc, const std::string& source, const std::string& temp, sqlite3* dest) {
  switch (rc) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error{ErrorCode::kUnavailable,
                   fmt::format("{} stayed locked by another process for {}s", source, kLockedFor.count())};
    case SQLITE_FULL:
      return Error{ErrorCode::kResourceExhausted, fmt::format("cannot write {}: disk full", temp)};
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return Error{ErrorCode::kInvalidArgument, fmt::format("{} is not a usable SQLite store: {}", source, sqlite3_errstr(rc))};
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return Error{ErrorCode::kPermissionDenied, fmt::format("cannot write {}: {}", temp, sqlite3_errstr(rc))};
    default:
      return Error{ErrorCode::kInternal, fmt::format("backup of {} into {} failed: {}", source, temp, sqlite3_errmsg(dest))};
  }
}

Result<void> FsyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Internal(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Internal(fmt::format("cannot fsync {}: {}", path, std::strerror(err)));
  return Ok();
}

Result<BackupReport> CopyInto(const BackupOptions& options, const std::string& temp) {
  std::error_code ec;
  if (!fs::exists(options.source, ec)) return NotFound(fmt::format("no store at {}", options.source));
  // Read-write (not read-only): a WAL store needs its -shm, which a read-only handle cannot
  // create when the conductor is not running. Never OPEN_CREATE: a typo must not make a store.
  EW_TRY(DbHandle source, Open(options.source, SQLITE_OPEN_READWRITE));
  // The store holds password hashes and board secrets: the copy is 0600 from its first byte
  // (SQLite would create it 0644 minus the umask). An empty file is an empty database to SQLite.
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS)
      return PermissionDenied(fmt::format("cannot create {}: {}", temp, std::strerror(err)));
    return Internal(fmt::format("cannot create {}: {}", temp, std::strerror(err)));
  }
  ::fchmod(fd, 0600);
  ::close(fd);
  EW_TRY(DbHandle dest, Open(temp, SQLITE_OPEN_READWRITE));
  sqlite3_backup* backup = sqlite3_backup_init(dest.get(), "main", source.get(), "main");
  if (!backup) return Internal(fmt::format("cannot start the backup into {}: {}", temp, sqlite3_errmsg(dest.get())));

  const auto give_up = std::chrono::steady_clock::now() + kLockedFor;
  int rc = SQLITE_OK;
  do {
    rc = sqlite3_backup_step(backup, kPagesPerStep);
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a CLI process: nothing else to do
      rc = SQLITE_OK;
    }
  } while (rc == SQLITE_OK);
  BackupReport report;
  report.pages = sqlite3_backup_pagecount(backup);
  const int finished = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return tl::unexpected(StepError(rc, options.source, temp, dest.get()));
  if (finished != SQLITE_OK) return tl::unexpected(StepError(finished, options.source, temp, dest.get()));

  // The copy is checked before it may replace anything.
  sqlite3_stmt* stmt = nullptr;
  std::string check;
  if (sqlite3_prepare_v2(dest.get(), "PRAGMA quick_check", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    check = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  if (check != "ok") return Internal(fmt::format("the copy in {} fails its check: {}", temp, check));
  if (sqlite3_prepare_v2(dest.get(), "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    report.schema_version = sqlite3_column_int(stmt, 0);
  }
  sqlite3_finalize(stmt);
  // Back to a single self-contained file: the copy carries the source's WAL flag; checkpoint and
  // leave WAL so that the destination is one file with nothing beside it.
  sqlite3_exec(dest.get(), "PRAGMA journal_mode = DELETE", nullptr, nullptr, nullptr);
  dest.reset();
  EW_TRY_VOID(FsyncFile(temp));
  report.bytes = static_cast<int64_t>(fs::file_size(temp, ec));
  return report;
}

}  // namespace

Result<BackupReport> BackupStore(const BackupOptions& options) {
  if (options.source.empty() || options.source == ":memory:")
    return InvalidArgument("the store is not a file (set [store] path or --store)");
  if (options.destination.empty()) return InvalidArgument("no backup destination given");
  const fs::path dest(options.destination);
  std::error_code ec;
  if (fs::exists(dest, ec) && !options.overwrite)
    return InvalidArgument(fmt::format("{} exists already: give --force to replace it", options.destination));
  if (fs::equivalent(dest, options.source, ec))
    return InvalidArgument(fmt::format("{} is the store itself", options.destination));
  fs::path dir = dest.parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec)) return NotFound(fmt::format("no directory {} for the backup", dir.string()));

  const std::string temp = (dir / ("." + dest.filename().string() + ".backup-tmp")).string();
  auto remove_temp = [&temp] {
    std::error_code ignored;
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) fs::remove(temp + suffix, ignored);
  };
  remove_temp();  // a leftover of an interrupted backup
  auto report = CopyInto(options, temp);
  if (!report) {
    remove_temp();
    return report;
  }
  fs::rename(temp, dest, ec);
  if (ec) {
    remove_temp();
    return Internal(fmt::format("cannot rename {} to {}: {}", temp, options.destination, ec.message()));
  }
  if (auto synced = posix::SyncDirectory(dir); !synced) return tl::unexpected(synced.error());
  return report;
}

}  // namespace ew::registry
