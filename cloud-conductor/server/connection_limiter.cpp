#include "cloud-conductor/server/connection_limiter.hpp"

#include "common/metrics/metrics.hpp"

namespace ew::server {

std::unique_ptr<ConnectionLimiter::Ticket> ConnectionLimiter::TryAcquire(const std::string& address, Verdict* verdict) {
  {
    std::lock_guard lock(mu_);
    if (total_ >= max_total_) {
      *verdict = Verdict::kGlobalCap;
      return nullptr;
    }
    auto it = by_address_.find(address);
    const size_t from_address = it == by_address_.end() ? 0 : it->second;
    if (from_address >= max_per_address_) {
      *verdict = Verdict::kAddressCap;
      return nullptr;
    }
    ++total_;
    ++by_address_[address];
    if (open_gauge_) open_gauge_->Set(static_cast<double>(total_));
  }
  *verdict = Verdict::kAdmitted;
  return std::make_unique<Ticket>(shared_from_this(), address);
}

void ConnectionLimiter::Release(const std::string& address, bool in_address_cap) {
  std::lock_guard lock(mu_);
  --total_;
  if (in_address_cap) {
    auto it = by_address_.find(address);
    if (it != by_address_.end() && --it->second == 0) by_address_.erase(it);
  }
  if (open_gauge_) open_gauge_->Set(static_cast<double>(total_));
}

void ConnectionLimiter::ReleaseAddress(const std::string& address) {
  std::lock_guard lock(mu_);
  auto it = by_address_.find(address);
  if (it != by_address_.end() && --it->second == 0) by_address_.erase(it);
}

void ConnectionLimiter::DetachGauge() {
  std::lock_guard lock(mu_);
  open_gauge_ = nullptr;
}

size_t ConnectionLimiter::open() const {
  std::lock_guard lock(mu_);
  return total_;
}

size_t ConnectionLimiter::open_from(const std::string& address) const {
  std::lock_guard lock(mu_);
  auto it = by_address_.find(address);
  return it == by_address_.end() ? 0 : it->second;
}

}  // namespace ew::server
