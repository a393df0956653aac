// SpoolFs over POSIX file descriptors: pwrite/pread at explicit offsets (no shared file
// position), fdatasync for data, fsync on the directory for names.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "device-agent/spool/spool_fs.hpp"

namespace ew::agent::spool {

namespace fs = std::filesystem;

namespace {

tl::unexpected<Error> IoError(const std::string& what, const fs::path& path, int err) {
  std::string message = what + " " + path.string() + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(std::move(message));
  return Internal(std::move(message));
}

class PosixSpoolFile final : public SpoolFile {
 public:
  PosixSpoolFile(int fd, fs::path path, uint64_t size) : fd_(fd), path_(std::move(path)), size_(size) {}
  ~PosixSpoolFile() override { ::close(fd_); }

  Result<void> Append(std::string_view data) override {
    const uint64_t start = size_;
    auto written = WriteAll(start, data);
    if (!written) {
      // Nothing half-written stays: a later append would otherwise follow a torn frame.
      (void)::ftruncate(fd_, static_cast<off_t>(start));
      return written;
    }
    size_ = start + data.size();
    return Ok();
  }

  Result<void> WriteAt(uint64_t offset, std::string_view data) override {
    EW_TRY_VOID(WriteAll(offset, data));
    if (offset + data.size() > size_) size_ = offset + data.size();
    return Ok();
  }

  Result<std::string> ReadAt(uint64_t offset, size_t length) override {
    std::string out(length, '\0');
    size_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd_, out.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("cannot read", path_, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    return out;
  }

  Result<void> Sync() override {
    if (::fdatasync(fd_) != 0) return IoError("cannot sync", path_, errno);
    return Ok();
  }

  Result<void> Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return IoError("cannot truncate", path_, errno);
    size_ = size;
    return Ok();
  }

  uint64_t Size() const override { return size_; }

 private:
  Result<void> WriteAll(uint64_t offset, std::string_view data) {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("cannot write", path_, errno);
      }
      done += static_cast<size_t>(n);
    }
    return Ok();
  }

  int fd_;
  fs::path path_;
  uint64_t size_;
};

class PosixSpoolFs final : public SpoolFs {
 public:
  Result<std::unique_ptr<SpoolFile>> Open(const fs::path& path, bool create) override {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0) {
      if (errno == ENOENT) return NotFound("no file " + path.string());
      return IoError("cannot open", path, errno);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return IoError("cannot stat", path, err);
    }
    return std::unique_ptr<SpoolFile>(std::make_unique<PosixSpoolFile>(fd, path, static_cast<uint64_t>(st.st_size)));
  }

  Result<void> Remove(const fs::path& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return IoError("cannot remove", path, errno);
    return Ok();
  }

  Result<std::vector<std::string>> List(const fs::path& dir) override {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) return NotFound("no directory " + dir.string());
      return Internal("cannot list " + dir.string() + ": " + ec.message());
    }
    std::vector<std::string> names;
    for (const auto& entry : it) names.push_back(entry.path().filename().string());
    return names;
  }

  Result<void> CreateDir(const fs::path& dir) override {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Internal("cannot create " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
    return Ok();
  }

  Result<void> RemoveDir(const fs::path& dir) override {
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) return Internal("cannot remove " + dir.string() + ": " + ec.message());
    return Ok();
  }

  Result<void> SyncDir(const fs::path& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return IoError("cannot open", dir, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return IoError("cannot sync", dir, err);
    return Ok();
  }
};

}  // namespace

std::unique_ptr<SpoolFs> MakePosixSpoolFs() { return std::make_unique<PosixSpoolFs>(); }

}  // namespace ew::agent::spool
