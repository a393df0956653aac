// The prepared sandboxes of one cold function version (issue 15): up to `target` sandboxes
// made ahead (ContainerRuntime::Prepare), so that the invocations of a burst skip the runtime's
// set-up. Not a warm instance: each sandbox serves one invocation, which takes it out of the
// pool for good (a new process for the function, a /tmp nobody wrote to); FunctionHost refills
// the pool when the function has nothing running or queued, so refilling never competes with
// the burst it prepares for, and sizes it after the bursts it saw (FunctionRunner).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/clock/clock.hpp"
#include "common/error/error.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

class SandboxPool {
 public:
  using Factory = std::function<Result<std::unique_ptr<PreparedSandbox>>()>;
  // After a failed Prepare, how long NeedsFill() stays false (a broken runtime is not retried
  // after every invocation; invocations run without the pool meanwhile).
  static constexpr std::chrono::seconds kRetryAfterFailure{30};
  // Sandboxes a Fill prepares at once, at most, counting every pool of the process: the filling
  // thread and up to kFillParallel - 1 helpers shared by all pools. Making one is mostly waiting
  // on the kernel (namespaces, mounts, cgroup directories: ~6 ms of CPU in ~50-180 ms here); the
  // factory must be thread-safe.
  static constexpr size_t kFillParallel = 4;
  // Follow shrinks a pool that has not been needed (a burst of at least half of it) this long.
  static constexpr std::chrono::seconds kShrinkAfter{30};

  // `target` > 0. `clock` must outlive the pool.
  SandboxPool(size_t target, Factory factory, const Clock& clock);
  ~SandboxPool();  // destroys the ready sandboxes; no Fill may run any more

  // A ready sandbox, or null when none is: the caller then runs cold without one. A sandbox is
  // handed out once and never comes back. Thread-safe.
  std::unique_ptr<PreparedSandbox> Take();
  // Prepares sandboxes (kFillParallel at once: this thread and helpers it joins) until `target`
  // are ready, Retire() runs or `*cancel` becomes true. One Fill at a time: another caller's
  // returns at once, and the running one fills again before it ends if sandboxes were taken
  // meanwhile. The factory's error ends it (logged by
  // the caller) and holds NeedsFill() false for kRetryAfterFailure. Blocks: a worker thread.
  Result<void> Fill(const std::atomic<bool>* cancel);
  // True when fewer than `target` are ready, it is not retired and not holding off after a
  // failure (also while a Fill runs: a Fill then makes the running one look again). Thread-safe.
  bool NeedsFill() const;
  // Destroys the ready sandboxes now; later Take() returns null and Fill() does nothing.
  void Retire();
  // Sets how many to keep ready (> 0); ready ones beyond it are destroyed. Thread-safe.
  void Resize(size_t target);
  // Sizes the pool after `burst` calls came within one burst window (FunctionHost): grows to it
  // at once; halves (never below `burst`) only when `in_burst` is false — a pause inside a burst
  // keeps every sandbox the rest of it needs — and it has not been needed for kShrinkAfter.
  // Within [floor, cap]. Thread-safe; one decision under the lock.
  void Follow(size_t burst, bool in_burst, size_t floor, size_t cap);
  // Fewer ready than the target (sandboxes were taken since the last fill). Thread-safe.
  bool Short() const;

  size_t Ready() const;
  size_t target() const;

 private:
  // The ready sandboxes beyond target_, for the caller to destroy outside the lock.
  // REQUIRES(mutex_).
  std::vector<std::unique_ptr<PreparedSandbox>> TakeOverTargetLocked();
  // Short() under mutex_ already held.
  bool ShortLocked() const;

  size_t target_;  // GUARDED_BY(mutex_)
  const Factory factory_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<PreparedSandbox>> ready_;  // GUARDED_BY(mutex_)
  bool filling_ = false;                                 // GUARDED_BY(mutex_)
  size_t making_ = 0;                                    // GUARDED_BY(mutex_): factory calls under way
  bool again_ = false;                                   // GUARDED_BY(mutex_): a Fill came while one ran
  bool retired_ = false;                                 // GUARDED_BY(mutex_)
  std::chrono::steady_clock::time_point hold_until_{};   // GUARDED_BY(mutex_)
  std::chrono::steady_clock::time_point needed_at_;      // GUARDED_BY(mutex_): a burst of >= half the target
};

}  // namespace ew::containers
