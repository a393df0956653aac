#include "containers/host/sandbox_pool.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace ew::containers {

namespace {
// Helper threads of every pool's Fill at once (SandboxPool::kFillParallel).
std::atomic<size_t> fill_helpers{0};
}  // namespace

SandboxPool::SandboxPool(size_t target, Factory factory, const Clock& clock)
    : target_(target), factory_(std::move(factory)), clock_(clock), needed_at_(clock.Steady()) {}

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
  size_t missing = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (retired_) return Ok();
    if (filling_) {
      again_ = true;  // the running Fill looks again before it ends
      return Ok();
    }
    filling_ = true;
    again_ = false;
    missing = target_ > ready_.size() ? target_ - ready_.size() : 0;
  }
  Result<void> outcome = Ok();  // the first failure; written under mutex_ while helpers run
  auto work = [&] {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (retired_ || !outcome || ready_.size() + making_ >= target_ || (cancel && cancel->load())) return;
        ++making_;
      }
      // Made outside the lock (it blocks for the runtime's set-up); Take() goes on meanwhile.
      Result<std::unique_ptr<PreparedSandbox>> sandbox = Internal("no sandbox");
      try {
        sandbox = factory_();
      } catch (const std::exception& e) {  // a helper thread must not end the process
        sandbox = Internal(std::string("preparing a sandbox: ") + e.what());
      }
      std::unique_ptr<PreparedSandbox> discard;  // destroyed after the unlock below (blocks on the reap)
      std::lock_guard<std::mutex> lock(mutex_);
      --making_;
      if (!sandbox) {
        hold_until_ = clock_.Steady() + kRetryAfterFailure;
        if (outcome) outcome = tl::unexpected(sandbox.error());
        return;
      }
      if (retired_ || ready_.size() >= target_) {  // retired, or shrunk meanwhile
        discard = std::move(*sandbox);
        if (retired_) return;
        continue;
      }
      ready_.push_back(std::move(*sandbox));
    }
  };
  for (;;) {
    std::vector<std::thread> helpers;
    for (size_t i = 1; i < std::min(kFillParallel, missing); ++i) {
      if (fill_helpers.fetch_add(1) >= kFillParallel - 1) {  // other pools' fills have them
        fill_helpers.fetch_sub(1);
        break;
      }
      try {
        helpers.emplace_back([&work] {
          work();
          fill_helpers.fetch_sub(1);
        });
      } catch (const std::system_error&) {
        fill_helpers.fetch_sub(1);
        break;  // fewer at once, still filled
      }
    }
    work();
    for (auto& helper : helpers) helper.join();
    // A refill asked for while this one ran (a sandbox taken after the makers saw the pool full,
    // then the function idle again) returned at once: it is done here, under the lock that ends
    // this Fill. Sandboxes taken with nobody asking (a burst going on) wait for its end.
    std::lock_guard<std::mutex> lock(mutex_);
    const bool again = again_ && ready_.size() < target_;
    again_ = false;
    if (retired_ || !outcome || !again || (cancel && cancel->load())) {
      filling_ = false;
      return outcome;
    }
    missing = target_ - ready_.size();
  }
}

bool SandboxPool::NeedsFill() const {
  std::lock_guard<std::mutex> lock(mutex_);
  // True while a Fill runs too: the caller's Fill then asks it to look again (again_).
  return ShortLocked() && clock_.Steady() >= hold_until_;
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

std::vector<std::unique_ptr<PreparedSandbox>> SandboxPool::TakeOverTargetLocked() {
  std::vector<std::unique_ptr<PreparedSandbox>> over;
  while (ready_.size() > target_) {
    over.push_back(std::move(ready_.back()));
    ready_.pop_back();
  }
  return over;
}

void SandboxPool::Resize(size_t target) {
  std::vector<std::unique_ptr<PreparedSandbox>> doomed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    target_ = std::max<size_t>(1, target);
    doomed = TakeOverTargetLocked();
  }
  doomed.clear();  // outside the lock
}

void SandboxPool::Follow(size_t burst, bool in_burst, size_t floor, size_t cap) {
  std::vector<std::unique_ptr<PreparedSandbox>> doomed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = clock_.Steady();
    floor = std::max<size_t>(1, floor);
    cap = std::max(cap, floor);
    const size_t wanted = std::clamp(burst, floor, cap);
    if (burst * 2 >= target_) needed_at_ = now;  // a burst of at least half the pool used it
    if (wanted > target_) {
      target_ = wanted;
    } else if (!in_burst && now - needed_at_ >= kShrinkAfter) {
      target_ = std::max(wanted, std::max(floor, target_ / 2));
      needed_at_ = now;  // the next halving after another quiet kShrinkAfter
    }
    doomed = TakeOverTargetLocked();
  }
  doomed.clear();  // outside the lock
}

bool SandboxPool::Short() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ShortLocked();
}

bool SandboxPool::ShortLocked() const { return !retired_ && ready_.size() < target_; }

size_t SandboxPool::target() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return target_;
}

size_t SandboxPool::Ready() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ready_.size();
}

}  // namespace ew::containers
