// Host uids for function containers, one per running container. A lease is an flock on
// <lock_dir>/<uid>: it holds across every daemon of the host that uses the same directory (all
// agents of a test host, the conductor's cloud runtime), and the kernel drops it when the
// holder dies, so a crashed daemon never leaks uids. With a uid of its own, a container's
// processes count only against its own RLIMIT_NPROC and no function can signal or ptrace
// another's.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>

#include "common/error/error.hpp"

namespace ew::containers {

class UidPool {
 public:
  // A uid held until destruction (or move-assignment over it). A default-constructed lease, or
  // one made by Unlocked, holds no lock.
  class Lease {
   public:
    Lease() = default;
    // A uid that needs no lock: rootless runtimes, whose containers all run as the daemon's uid.
    static Lease Unlocked(uid_t uid);
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    uid_t uid() const { return uid_; }
    bool valid() const { return uid_ != kNone; }

   private:
    friend class UidPool;
    static constexpr uid_t kNone = static_cast<uid_t>(-1);
    Lease(uid_t uid, int fd) : uid_(uid), fd_(fd) {}
    uid_t uid_ = kNone;
    int fd_ = -1;
  };

  // uids [first, first + count). `lock_dir` is created (0700) on first use.
  UidPool(uint32_t first, uint32_t count, std::filesystem::path lock_dir);

  // A free uid of the range. Thread-safe. ResourceExhausted when all are leased, Internal when
  // the lock directory cannot be made.
  Result<Lease> Acquire();

  uint32_t first() const { return first_; }
  uint32_t count() const { return count_; }

 private:
  uint32_t first_;
  uint32_t count_;
  std::filesystem::path lock_dir_;
  std::atomic<uint32_t> next_;  // where the next search starts (spreads daemons over the range)
};

}  // namespace ew::containers
