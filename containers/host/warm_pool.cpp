#include "containers/host/warm_pool.hpp"

namespace ew::containers {

WarmPool::WarmPool(size_t max_instances, std::chrono::seconds idle_timeout, Factory factory, const Clock& clock)
    : max_instances_(max_instances), idle_timeout_(idle_timeout), factory_(std::move(factory)), clock_(clock) {}

WarmPool::~WarmPool() { Retire(false); }

Result<WarmPool::Lease> WarmPool::Acquire() {
  std::vector<std::unique_ptr<ContainerProcess>> dead;  // destroyed after unlocking
  std::unique_ptr<ContainerProcess> reused;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (retired_) return MakeError(ErrorCode::kCancelled, "function version retired");
    // Most recently used first: it is the likeliest to have warm caches.
    while (!idle_.empty() && !reused) {
      auto process = std::move(idle_.back().process);
      idle_.pop_back();
      if (process->IsAlive()) {
        leased_.insert(process.get());
        reused = std::move(process);
      } else {
        dead.push_back(std::move(process));
      }
    }
    if (!reused) {
      if (leased_.size() + starting_ >= max_instances_) {
        return ResourceExhausted("all " + std::to_string(max_instances_) + " warm instances are busy");
      }
      ++starting_;
    }
  }
  dead.clear();
  if (reused) return Lease{std::move(reused), false};
  auto started = factory_();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --starting_;
    if (!started) return tl::unexpected(started.error());
    // Retire(true) ran while the factory worked: it could not Cancel() this instance, so lending
    // it out would leave the caller waiting on it until its timeout. Retire(false) lets it serve
    // this call (the version's running calls finish) and Release destroys it.
    if (!cancelled_) {
      leased_.insert(started->get());
      return Lease{std::move(*started), true};
    }
  }
  started->reset();  // stopping a container blocks: unlocked
  return MakeError(ErrorCode::kCancelled, "cancelled while starting a warm instance (shutting down)");
}

void WarmPool::Release(std::unique_ptr<ContainerProcess> process, bool healthy) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    leased_.erase(process.get());
    if (healthy && !retired_ && process->IsAlive()) {
      idle_.push_back({std::move(process), clock_.Steady()});
      return;
    }
  }
  process.reset();
}

std::optional<WarmPool::TimePoint> WarmPool::ReapIdle() {
  std::vector<std::unique_ptr<ContainerProcess>> expired;
  std::optional<TimePoint> next;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto now = clock_.Steady();
    std::vector<Idle> keep;
    for (auto& entry : idle_) {
      if (now - entry.since >= idle_timeout_) {
        expired.push_back(std::move(entry.process));
      } else {
        keep.push_back(std::move(entry));
        auto at = keep.back().since + idle_timeout_;
        if (!next || at < *next) next = at;
      }
    }
    idle_ = std::move(keep);
  }
  return next;  // `expired` is destroyed here, unlocked
}

void WarmPool::Retire(bool cancel_leased) {
  std::vector<Idle> idle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    retired_ = true;
    idle.swap(idle_);
    if (cancel_leased) {
      cancelled_ = true;  // for the instances still starting: see Acquire
      for (auto* process : leased_) process->Cancel();
    }
  }
}

size_t WarmPool::Alive() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return idle_.size() + leased_.size() + starting_;
}

}  // namespace ew::containers
