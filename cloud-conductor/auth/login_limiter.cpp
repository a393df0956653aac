#include "cloud-conductor/auth/login_limiter.hpp"

#include <algorithm>

namespace ew::auth {

namespace {

// Keys are bounded whatever the request carried (user names are at most 63 bytes anyway).
constexpr size_t kMaxKeyBytes = 128;

std::string Key(const std::string& text) { return text.substr(0, kMaxKeyBytes); }

}  // namespace

LoginLimiter::LoginLimiter(const Clock& clock, LoginLimiterOptions options) : clock_(clock), options_(options) {
  users_.free_failures = options_.free_failures_per_user;
  addresses_.free_failures = options_.free_failures_per_address;
}

std::string LoginLimiter::AddressOf(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  if (colon == std::string::npos || colon + 1 == peer.size()) return peer;
  if (peer.find_first_not_of("0123456789", colon + 1) != std::string::npos) return peer;
  return peer.substr(0, colon);
}

std::chrono::seconds LoginLimiter::Check(const std::string& user, const std::string& address) {
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  return std::max(Wait(users_, Key(user), now), Wait(addresses_, Key(address), now));
}

void LoginLimiter::Failed(const std::string& user, const std::string& address) {
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  Fail(users_, Key(user), now);
  Fail(addresses_, Key(address), now);
}

void LoginLimiter::Succeeded(const std::string& user) {
  std::lock_guard lock(mu_);
  Forget(users_, Key(user));
}

size_t LoginLimiter::TrackedUsers() const {
  std::lock_guard lock(mu_);
  return users_.records.size();
}

size_t LoginLimiter::TrackedAddresses() const {
  std::lock_guard lock(mu_);
  return addresses_.records.size();
}

std::chrono::seconds LoginLimiter::Wait(Table& table, const std::string& key, Clock::TimePoint now) {
  auto it = table.records.find(key);
  if (it == table.records.end()) return std::chrono::seconds::zero();
  if (now - it->second.last_failure >= options_.forget_after && now >= it->second.blocked_until) {
    Forget(table, key);
    return std::chrono::seconds::zero();
  }
  if (now >= it->second.blocked_until) return std::chrono::seconds::zero();
  // Rounded up: a client that waits Retry-After seconds is never refused again for this failure.
  auto left = it->second.blocked_until - now;
  auto whole = std::chrono::duration_cast<std::chrono::seconds>(left);
  if (whole < left) whole += std::chrono::seconds(1);
  return whole;
}

void LoginLimiter::Fail(Table& table, const std::string& key, Clock::TimePoint now) {
  auto it = table.records.find(key);
  if (it != table.records.end() && now - it->second.last_failure >= options_.forget_after &&
      now >= it->second.blocked_until) {
    Forget(table, key);
    it = table.records.end();
  }
  if (it == table.records.end()) {
    while (table.records.size() >= std::max<size_t>(1, options_.max_tracked)) Forget(table, table.by_age.front());
    table.by_age.push_back(key);
    Record fresh;
    fresh.position = std::prev(table.by_age.end());
    it = table.records.emplace(key, fresh).first;
  } else {
    table.by_age.splice(table.by_age.end(), table.by_age, it->second.position);
  }
  Record& record = it->second;
  ++record.failures;
  record.last_failure = now;
  const int64_t over = record.failures - table.free_failures;
  if (over <= 0) return;
  // first_delay × 2^(over-1), capped; the shift is capped too so that it cannot overflow.
  const int64_t factor = int64_t{1} << std::min<int64_t>(over - 1, 30);
  const auto delay = std::min<std::chrono::seconds>(options_.first_delay * factor, options_.max_delay);
  record.blocked_until = now + delay;
}

void LoginLimiter::Forget(Table& table, const std::string& key) {
  auto it = table.records.find(key);
  if (it == table.records.end()) return;
  table.by_age.erase(it->second.position);
  table.records.erase(it);
}

}  // namespace ew::auth
