#include "containers/host/sandbox_pool.hpp"

#include <algorithm>

namespace ew::containers {

SandboxPool::SandboxPool(size_t target, Factory factory, const Clock& clock)
    : target_(target), factory_(std::move(factory)), clock_(clock) {}

SandboxPool::~SandboxPool() { Retire(); }

std::unique_ptr<PreparedSandbox> SandboxPool::Take() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (retired_ || ready_.empty()) return nullptr;
  // Oldest first: every sandbox waits about as long as the others.
  auto sandbox = std::move(ready_.front());
  ready_.erase(ready_.begin());
  return sandbox;
}

Result<void> SandboxPool::Fill(const std::atomic<bool>* cancel) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (filling_ || retired_) return Ok();
    filling_ = true;
  }
  Result<void> outcome = Ok();
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (retired_ || ready_.size() >= target_ || (cancel && cancel->load())) break;
    }
    // Made outside the lock (it blocks for the runtime's set-up); Take() goes on meanwhile.
    auto sandbox = factory_();
    std::unique_ptr<PreparedSandbox> discard;
    std::lock_guard<std::mutex> lock(mutex_);
    if (!sandbox) {
      hold_until_ = clock_.Steady() + kRetryAfterFailure;
      outcome = tl::unexpected(sandbox.error());
      break;
    }
    if (retired_) {
      discard = std::move(*sandbox);  // destroyed after the unlock below (blocks on the reap)
      break;
    }
    ready_.push_back(std::move(*sandbox));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  filling_ = false;
  return outcome;
}

bool SandboxPool::NeedsFill() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !retired_ && !filling_ && ready_.size() < target_ && clock_.Steady() >= hold_until_;
}

void SandboxPool::Retire() {
  std::vector<std::unique_ptr<PreparedSandbox>> doomed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    retired_ = true;
    doomed.swap(ready_);
  }
  doomed.clear();  // kills and reaps outside the lock
}

void SandboxPool::Resize(size_t target) {
  std::vector<std::unique_ptr<PreparedSandbox>> doomed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    target_ = std::max<size_t>(1, target);
    while (ready_.size() > target_) {
      doomed.push_back(std::move(ready_.back()));
      ready_.pop_back();
    }
  }
  doomed.clear();  // outside the lock
}

size_t SandboxPool::target() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return target_;
}

size_t SandboxPool::Ready() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ready_.size();
}

}  // namespace ew::containers
