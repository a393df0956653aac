#include "cloud-conductor/auth/login_limiter.hpp"

#include <algorithm>

namespace ew::auth {

namespace {

// Keys are bounded whatever the request carried (user names are at most 63 bytes anyway).
constexpr size_t kMaxKeyBytes = 128;

std::string Key(const std::string& text) { return text.substr(0, kMaxKeyBytes); }

// Rounded up: a client that waits Retry-After seconds is never refused again for the same reason.
std::chrono::seconds WholeSeconds(Clock::TimePoint::duration left) {
  auto whole = std::chrono::duration_cast<std::chrono::seconds>(left);
  if (whole < left) whole += std::chrono::seconds(1);
  return std::max(whole, std::chrono::seconds(1));
}

}  // namespace

LoginLimiter::Attempt::~Attempt() {
  if (!ended_) limiter_.End(*this, false, false);
}

void LoginLimiter::Attempt::Failed() {
  if (ended_) return;
  ended_ = true;
  limiter_.End(*this, true, false);
}

void LoginLimiter::Attempt::Succeeded() {
  if (ended_) return;
  ended_ = true;
  limiter_.End(*this, false, true);
}

LoginLimiter::LoginLimiter(const Clock& clock, LoginLimiterOptions options) : clock_(clock), options_(options) {
  addresses_.free_failures = options_.free_failures_per_address;
  pairs_.free_failures = options_.free_failures_per_user;
  users_.kind = Kind::kPacing;
  users_.free_failures = options_.user_failures_before_pacing;
}

std::string LoginLimiter::AddressOf(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  if (colon == std::string::npos || colon + 1 == peer.size()) return peer;
  if (peer.find_first_not_of("0123456789", colon + 1) != std::string::npos) return peer;
  return peer.substr(0, colon);
}

LoginLimiter::Keys LoginLimiter::KeysOf(const std::string& user, const std::string& address) {
  Keys keys;
  keys.address = Key(address);
  keys.user = Key(user);
  keys.pair = keys.user + std::string(1, '\0') + keys.address;  // names and addresses hold no NUL
  return keys;
}

LoginLimiter::Admission LoginLimiter::Begin(const std::string& user, const std::string& address) {
  const auto now = clock_.Now();
  const Keys keys = KeysOf(user, address);
  Admission admission;
  std::lock_guard lock(mu_);
  admission.retry_after = std::max({Wait(addresses_, keys.address, now), Wait(pairs_, keys.pair, now),
                                    Wait(users_, keys.user, now)});
  if (admission.retry_after.count() > 0) return admission;
  ++Touch(addresses_, keys.address, now).in_flight;
  ++Touch(pairs_, keys.pair, now).in_flight;
  Record& paced = Touch(users_, keys.user, now);
  ++paced.in_flight;
  if (paced.failures >= users_.free_failures) paced.blocked_until = now + options_.user_pace;
  admission.attempt.reset(new Attempt(*this, keys.user, keys.address));
  return admission;
}

std::chrono::seconds LoginLimiter::Check(const std::string& user, const std::string& address) {
  const auto now = clock_.Now();
  const Keys keys = KeysOf(user, address);
  std::lock_guard lock(mu_);
  return std::max({Wait(addresses_, keys.address, now), Wait(pairs_, keys.pair, now), Wait(users_, keys.user, now)});
}

void LoginLimiter::Failed(const std::string& user, const std::string& address) {
  const auto now = clock_.Now();
  const Keys keys = KeysOf(user, address);
  std::lock_guard lock(mu_);
  Fail(addresses_, keys.address, now);
  Fail(pairs_, keys.pair, now);
  Fail(users_, keys.user, now);
}

void LoginLimiter::Succeeded(const std::string& user, const std::string& address) {
  const Keys keys = KeysOf(user, address);
  std::lock_guard lock(mu_);
  Forget(pairs_, keys.pair);
}

void LoginLimiter::End(const Attempt& attempt, bool failed, bool succeeded) {
  const auto now = clock_.Now();
  const Keys keys = KeysOf(attempt.user_, attempt.address_);
  std::lock_guard lock(mu_);
  Release(addresses_, keys.address);
  Release(pairs_, keys.pair);
  Release(users_, keys.user);
  if (failed) {
    Fail(addresses_, keys.address, now);
    Fail(pairs_, keys.pair, now);
    Fail(users_, keys.user, now);
  }
  if (succeeded) Forget(pairs_, keys.pair);
}

size_t LoginLimiter::TrackedUsers() const {
  std::lock_guard lock(mu_);
  return pairs_.records.size();
}

size_t LoginLimiter::TrackedAddresses() const {
  std::lock_guard lock(mu_);
  return addresses_.records.size();
}

size_t LoginLimiter::InFlight(const std::string& address) const {
  std::lock_guard lock(mu_);
  auto it = addresses_.records.find(Key(address));
  return it == addresses_.records.end() ? 0 : static_cast<size_t>(it->second.in_flight);
}

bool LoginLimiter::Stale(const Table& table, const Record& record, Clock::TimePoint now) const {
  if (record.failures == 0) return false;
  if (table.kind == Kind::kPacing) return now - record.first_failure >= options_.user_window;
  return now - record.last_failure >= options_.forget_after && now >= record.blocked_until;
}

std::chrono::seconds LoginLimiter::Wait(Table& table, const std::string& key, Clock::TimePoint now) {
  auto it = table.records.find(key);
  if (it == table.records.end()) return std::chrono::seconds::zero();
  Record& record = it->second;
  if (Stale(table, record, now)) {
    if (record.in_flight == 0) {
      Forget(table, key);
      return std::chrono::seconds::zero();
    }
    record.failures = 0;
    record.blocked_until = {};
  }
  const bool budget_spoken_for = record.in_flight > 0 && record.failures + record.in_flight >= table.free_failures;
  if (table.kind == Kind::kPacing) {
    if (record.failures + record.in_flight < table.free_failures) return std::chrono::seconds::zero();
    // Paced: one attempt at a time, one start per user_pace.
    if (record.in_flight > 0) return WholeSeconds(options_.user_pace);
    return now < record.blocked_until ? WholeSeconds(record.blocked_until - now) : std::chrono::seconds::zero();
  }
  if (now < record.blocked_until) return WholeSeconds(record.blocked_until - now);
  // The attempts in flight may use up the free failures (or, past them, decide the next
  // delay): the next attempt waits for them. They end within one password hash.
  if (budget_spoken_for) return std::chrono::seconds(1);
  return std::chrono::seconds::zero();
}

LoginLimiter::Record& LoginLimiter::Touch(Table& table, const std::string& key, Clock::TimePoint now) {
  auto it = table.records.find(key);
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
  if (Stale(table, record, now)) {
    record.failures = 0;
    record.blocked_until = {};
  }
  return record;
}

void LoginLimiter::Fail(Table& table, const std::string& key, Clock::TimePoint now) {
  Record& record = Touch(table, key, now);
  if (record.failures == 0) record.first_failure = now;
  ++record.failures;
  record.last_failure = now;
  if (table.kind == Kind::kPacing) return;  // the pace is set when an attempt starts
  const int64_t over = record.failures - table.free_failures;
  if (over <= 0) return;
  // first_delay × 2^(over-1), capped; the shift is capped too so that it cannot overflow.
  const int64_t factor = int64_t{1} << std::min<int64_t>(over - 1, 30);
  const auto delay = std::min<std::chrono::seconds>(options_.first_delay * factor, options_.max_delay);
  record.blocked_until = now + delay;
}

void LoginLimiter::Release(Table& table, const std::string& key) {
  auto it = table.records.find(key);
  if (it == table.records.end()) return;  // evicted meanwhile: nothing to give back
  if (it->second.in_flight > 0) --it->second.in_flight;
  if (it->second.in_flight == 0 && it->second.failures == 0) Forget(table, key);
}

void LoginLimiter::Forget(Table& table, const std::string& key) {
  auto it = table.records.find(key);
  if (it == table.records.end()) return;
  table.by_age.erase(it->second.position);
  table.records.erase(it);
}

}  // namespace ew::auth
