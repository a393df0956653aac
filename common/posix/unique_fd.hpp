// UniqueFd: the one owner of a POSIX file descriptor, closed exactly once. Every module that
// opens a descriptor by hand (package extraction, runtime pipes, durable writes) holds it here,
// so that no early return leaks one.
#pragma once

#include <unistd.h>

#include <utility>

namespace ew::posix {

// Owns one descriptor (or none: -1). Move-only; closes on destruction and on reset(). Not
// thread-safe: one owner at a time, like the descriptor itself.
class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of `fd`; a negative value means "none" (so `UniqueFd(::open(...))` is safe).
  explicit UniqueFd(int fd) : fd_(fd < 0 ? -1 : fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  // The descriptor, still owned; -1 when none.
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives up ownership without closing; the caller closes what it returns.
  int release() { return std::exchange(fd_, -1); }
  // Closes the current descriptor (close(2) errors ignored: the descriptor is gone either way,
  // and a retry could close someone else's), then owns `fd`.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd < 0 ? -1 : fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace ew::posix
