// The file operations the spool needs, behind one interface (leveldb's Env idea): the real
// one is PosixSpoolFs; tests wrap it to drop what was never synced (a power cut) and prove that
// what the spool calls durable is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error/error.hpp"

namespace ew::agent::spool {

// One open file. Not thread-safe: the spool calls it under its own lock.
class SpoolFile {
 public:
  virtual ~SpoolFile() = default;
  // Appends `data` at the end. On failure (ENOSPC, EIO) nothing of `data` stays: the file is
  // cut back to its old size. ResourceExhausted for a full disk, Internal otherwise.
  virtual Result<void> Append(std::string_view data) = 0;
  // Writes `data` at `offset` (the stream's small state file).
  virtual Result<void> WriteAt(uint64_t offset, std::string_view data) = 0;
  // Reads up to `length` bytes at `offset`; fewer only at the end of the file.
  virtual Result<std::string> ReadAt(uint64_t offset, size_t length) = 0;
  // fdatasync: what was written is on the medium.
  virtual Result<void> Sync() = 0;
  virtual Result<void> Truncate(uint64_t size) = 0;
  virtual uint64_t Size() const = 0;
};

class SpoolFs {
 public:
  virtual ~SpoolFs() = default;
  // Opens `path` for reading and writing, creating it (0600) when `create`; NotFound otherwise.
  virtual Result<std::unique_ptr<SpoolFile>> Open(const std::filesystem::path& path, bool create) = 0;
  virtual Result<void> Remove(const std::filesystem::path& path) = 0;
  // Names (not paths) of the entries of `dir`; NotFound when it does not exist.
  virtual Result<std::vector<std::string>> List(const std::filesystem::path& dir) = 0;
  // Creates `dir` (0700) if missing, with its parents.
  virtual Result<void> CreateDir(const std::filesystem::path& dir) = 0;
  virtual Result<void> RemoveDir(const std::filesystem::path& dir) = 0;
  // fsync of a directory: files created or removed in it stay so after a power cut.
  virtual Result<void> SyncDir(const std::filesystem::path& dir) = 0;
};

// POSIX file descriptors (pwrite, pread, fdatasync).
std::unique_ptr<SpoolFs> MakePosixSpoolFs();

}  // namespace ew::agent::spool
