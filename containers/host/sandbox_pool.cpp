#include "containers/host/sandbox_pool.hpp"

#include <algorithm>
#include <system_error>
#include <thread>
#include <vector>

namespace ew::containers {

SandboxPool::SandboxPool(size_t target, Factory factory, const Clock& clock)
    : target_(target), factory_(std::move(factory)), clock_(clock), grown_at_(clock.Steady()) {}

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
    fill_failed_ = false;
  }
  Result<void> outcome = Ok();  // the first failure; GUARDED_BY(mutex_) while the helpers run
  auto work = [&] {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (retired_ || fill_failed_ || ready_.size() + making_ >= target_ || (cancel && cancel->load())) return;
        ++making_;
      }
      // Made outside the lock (it blocks for the runtime's set-up); Take() goes on meanwhile.
      auto sandbox = factory_();
      std::unique_ptr<PreparedSandbox> discard;  // destroyed after the unlock below (blocks on the reap)
      std::lock_guard<std::mutex> lock(mutex_);
      --making_;
      if (!sandbox) {
        hold_until_ = clock_.Steady() + kRetryAfterFailure;
        if (!fill_failed_) outcome = tl::unexpected(sandbox.error());
        fill_failed_ = true;
        return;
      }
      if (retired_) {
        discard = std::move(*sandbox);
        return;
      }
      ready_.push_back(std::move(*sandbox));
    }
  };
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < kFillParallel; ++i) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // fewer at once, still filled
    }
  }
  work();
  for (auto& helper : helpers) helper.join();
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
    if (std::max<size_t>(1, target) > target_) grown_at_ = clock_.Steady();
    target_ = std::max<size_t>(1, target);
    while (ready_.size() > target_) {
      doomed.push_back(std::move(ready_.back()));
      ready_.pop_back();
    }
  }
  doomed.clear();  // outside the lock
}

std::chrono::steady_clock::duration SandboxPool::SinceGrown() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return clock_.Steady() - grown_at_;
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
