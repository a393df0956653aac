#include "containers/runtime/uid_pool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace ew::containers {

namespace fs = std::filesystem;

UidPool::Lease UidPool::Lease::Unlocked(uid_t uid) { return Lease(uid, -1); }

UidPool::Lease::Lease(Lease&& other) noexcept : uid_(other.uid_), fd_(other.fd_) {
  other.uid_ = kNone;
  other.fd_ = -1;
}

UidPool::Lease& UidPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);  // releases the flock
    uid_ = other.uid_;
    fd_ = other.fd_;
    other.uid_ = kNone;
    other.fd_ = -1;
  }
  return *this;
}

UidPool::Lease::~Lease() {
  if (fd_ >= 0) close(fd_);
}

UidPool::UidPool(uint32_t first, uint32_t count, fs::path lock_dir)
    // Each process starts its search at its own place: daemons starting together rarely collide.
    : first_(first), count_(count), lock_dir_(std::move(lock_dir)), next_(count ? static_cast<uint32_t>(getpid()) * 7919u % count : 0) {}

Result<UidPool::Lease> UidPool::Acquire() {
  if (count_ == 0) return ResourceExhausted("the function uid range is empty");
  std::error_code ec;
  if (fs::create_directories(lock_dir_, ec)) fs::permissions(lock_dir_, fs::perms::owner_all, ec);
  if (ec) return Internal("cannot create " + lock_dir_.string() + ": " + ec.message());
  const uint32_t start = next_.fetch_add(1) % count_;
  for (uint32_t i = 0; i < count_; ++i) {
    const uint32_t uid = first_ + (start + i) % count_;
    const std::string path = (lock_dir_ / std::to_string(uid)).string();
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return Internal("cannot open " + path + ": " + std::strerror(errno));
    // flock locks belong to the open file description: two leases in one process conflict too.
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      next_.store((start + i + 1) % count_);
      return Lease(static_cast<uid_t>(uid), fd);
    }
    int err = errno;
    close(fd);
    if (err != EWOULDBLOCK) return Internal("cannot lock " + path + ": " + std::strerror(err));
  }
  return ResourceExhausted("all " + std::to_string(count_) + " function uids from " + std::to_string(first_) +
                           " are in use");
}

}  // namespace ew::containers
