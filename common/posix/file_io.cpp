#include "common/posix/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/posix/unique_fd.hpp"

namespace ew::posix {

namespace fs = std::filesystem;

namespace {

tl::unexpected<Error> IoError(const std::string& what, const fs::path& path, int err) {
  std::string message = what + " " + path.string() + ": " + std::strerror(err);
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS: return PermissionDenied(std::move(message));
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return ResourceExhausted(std::move(message));
    case ENOENT: return NotFound(std::move(message));
    default: return Internal(std::move(message));
  }
}

Result<void> WriteAll(int fd, std::string_view bytes, const fs::path& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot write", path, errno);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

// Removes the temporary unless Keep() was called: every early return cleans up.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  void Keep() { path_.clear(); }

 private:
  std::string path_;
};

}  // namespace

Result<void> SyncDirectory(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return IoError("cannot open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return IoError("cannot sync directory", dir, errno);
  return Ok();
}

Result<void> WriteFileAtomically(const fs::path& path, std::string_view bytes, mode_t mode) {
  if (!path.has_filename()) return InvalidArgument("cannot write " + path.string() + ": not a file name");
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::string temp = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) return IoError("cannot create a temporary file for", path, errno);
  TempFile cleanup(temp);
  if (::fchmod(fd.get(), mode) != 0) return IoError("cannot set the mode of", temp, errno);
  EW_TRY_VOID(WriteAll(fd.get(), bytes, temp));
  if (::fsync(fd.get()) != 0) return IoError("cannot sync", temp, errno);
  // close(2) may report a deferred write error (NFS): the file is not trusted then.
  if (::close(fd.release()) != 0) return IoError("cannot close", temp, errno);
  if (::rename(temp.c_str(), path.c_str()) != 0) return IoError("cannot rename onto", path, errno);
  cleanup.Keep();
  return SyncDirectory(dir);
}

Result<std::string> ReadFileLimited(const fs::path& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return IoError("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return IoError("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument("cannot read " + path.string() + ": not a regular file");
  auto too_large = [&] {
    return ResourceExhausted("cannot read " + path.string() + ": larger than " + std::to_string(max_bytes) + " bytes");
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_large();
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  for (;;) {
    if (done == out.size()) {
      // Read one byte past the expected end: the file may have grown since fstat.
      if (out.size() > max_bytes) return too_large();
      out.resize(out.size() + std::min<size_t>(4096, max_bytes - out.size() + 1));
    }
    const ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read", path, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
    if (done > max_bytes) return too_large();
  }
  out.resize(done);
  return out;
}

}  // namespace ew::posix
