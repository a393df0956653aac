// Who reaps what. Every process the containers library forks is registered here, so that a
// daemon that is a child subreaper (the agent, the conductor's cloud runtime) can reap the
// orphans its containers leave (bwrap's sandbox pid 1 outlives the bwrap that forked it and
// would otherwise stay a zombie of PID 1) without ever stealing the exit status of a runtime
// process that a ChildProcess still waits for.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "common/error/error.hpp"

namespace ew::containers {

class ChildReaper {
 public:
  // prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants of this process become its children
  // (instead of PID 1's), to be reaped by ReapOrphans. Process-wide; idempotent. Internal with
  // the errno text when the kernel refuses.
  static Result<void> BecomeSubreaper();
  static bool IsSubreaper();

  // Reaps (WNOHANG) every exited child of this process that no ChildProcess owns. Returns how
  // many were reaped. Thread-safe; cheap (reads /proc/self/task/*/children).
  static size_t ReapOrphans();

  // For ChildProcess: fork() with the child registered before any other thread may look (the
  // registry lock is held across the fork; the child never touches it). Returns fork's value.
  static pid_t ForkTracked();
  // For ChildProcess, once it has reaped `pid` itself.
  static void Forget(pid_t pid);

  // Reaps `pid` when it is our child and has exited (an orphan we know by its pidfd, like
  // bwrap's sandbox): waits up to `wait_ms` for `pidfd` to become readable first. No-op when
  // it is not our child (we are not a subreaper) or another thread reaped it.
  static void ReapKnownOrphan(pid_t pid, int pidfd, int wait_ms);
};

}  // namespace ew::containers
