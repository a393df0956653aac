// The warm instances of one installed function version: at most max_instances processes, each
// lent to one caller at a time, stopped after idle_timeout without use. Instances are created
// by a factory (the runtime's Start) and destroyed outside the pool's lock, since stopping a
// container blocks.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "common/clock/clock.hpp"
#include "common/error/error.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

class WarmPool {
 public:
  using Factory = std::function<Result<std::unique_ptr<ContainerProcess>>()>;
  using TimePoint = std::chrono::steady_clock::time_point;

  WarmPool(size_t max_instances, std::chrono::seconds idle_timeout, Factory factory, const Clock& clock);
  ~WarmPool();  // destroys the idle instances; none may be lent out any more

  struct Lease {
    std::unique_ptr<ContainerProcess> process;
    bool fresh = false;  // started for this call
  };
  // An idle instance that is still alive, else a new one. ResourceExhausted when max_instances
  // are lent out (the host's concurrency limit prevents it), Cancelled after Retire, or the
  // factory's error. Also Cancelled when Retire(true) runs while the factory starts the new
  // instance: that instance is destroyed, not lent out.
  Result<Lease> Acquire();
  // Gives an instance back: kept idle when `healthy` and the pool is not retired, else destroyed.
  void Release(std::unique_ptr<ContainerProcess> process, bool healthy);

  // Destroys the instances idle for idle_timeout or more; returns when the next idle one
  // expires (nullopt when none is idle).
  std::optional<TimePoint> ReapIdle();
  // Destroys the idle instances now and those lent out when they come back; Cancel()s the
  // lent ones when `cancel_leased` (shutting down), and makes the Acquire calls still starting
  // one fail with Cancelled.
  void Retire(bool cancel_leased);

  size_t Alive() const;  // idle + lent out

 private:
  struct Idle {
    std::unique_ptr<ContainerProcess> process;
    TimePoint since;
  };

  const size_t max_instances_;
  const std::chrono::seconds idle_timeout_;
  const Factory factory_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::vector<Idle> idle_;                // GUARDED_BY(mutex_), most recently used last
  std::set<ContainerProcess*> leased_;    // GUARDED_BY(mutex_)
  size_t starting_ = 0;                   // GUARDED_BY(mutex_): factory calls under way
  bool retired_ = false;                  // GUARDED_BY(mutex_)
  bool cancelled_ = false;                // GUARDED_BY(mutex_): Retire(true) ran
};

}  // namespace ew::containers
