#include "device-agent/storage/storage_check.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log/log.hpp"

namespace ew::agent::storage {

namespace {

const ew::log::Logger Log{"storage"};

// One page: a full file system refuses it; an empty file alone could still be created.
constexpr size_t kProbeBytes = 4096;

}  // namespace

std::string ProbeWritable(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ec.message();
  std::string path = (dir / ".edgewire-probe-XXXXXX").string();
  const int fd = ::mkstemp(path.data());
  if (fd < 0) return std::strerror(errno);
  static const std::string kBytes(kProbeBytes, '\0');
  int err = 0;
  size_t done = 0;
  while (done < kBytes.size()) {
    const ssize_t n = ::write(fd, kBytes.data() + done, kBytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  ::unlink(path.c_str());
  return err == 0 ? "" : std::strerror(err);
}

StorageCheck::StorageCheck(std::vector<WatchedDir> dirs) : dirs_(std::move(dirs)), last_(dirs_.size()) {}

std::vector<std::string> StorageCheck::Check() {
  std::lock_guard lock(mu_);
  std::vector<std::string> problems;
  for (size_t i = 0; i < dirs_.size(); ++i) {
    const WatchedDir& d = dirs_[i];
    std::string why = ProbeWritable(d.dir);
    if (why != last_[i]) {
      if (!why.empty()) {
        Log()->warn("{} directory {} cannot be written: {}; the board keeps serving (ping, GPIO, invocations of "
                    "deployed functions), what needs this directory fails with this reason",
                    d.what, d.dir.string(), why);
      } else {
        Log()->info("{} directory {} can be written again", d.what, d.dir.string());
      }
      last_[i] = why;
    }
    if (!why.empty()) problems.push_back(d.what + " " + d.dir.string() + ": " + why);
  }
  return problems;
}

}  // namespace ew::agent::storage
