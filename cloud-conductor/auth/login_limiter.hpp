// Limits password guessing: failed logins are counted per user name and per source address;
// past a few free failures each further one makes that name (or address) wait, the delay
// doubling up to a cap. A successful login clears its user's count (not its address's: one
// valid account must not reset the count of guesses at others). Memory is bounded: each table
// keeps at most max_tracked records and evicts the one whose last failure is oldest, so random
// user names cannot grow it. Time comes from a Clock (ManualClock in tests). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock/clock.hpp"

namespace ew::auth {

struct LoginLimiterOptions {
  int64_t free_failures_per_user = 5;       // failures of one user name before delays start
  int64_t free_failures_per_address = 20;   // failures from one address (NAT: many users) before delays start
  std::chrono::seconds first_delay{1};      // delay after the first failure past the free ones; doubles per further one
  std::chrono::seconds max_delay{300};      // cap of the delay (5 min)
  std::chrono::seconds forget_after{3600};  // a record whose last failure is older than this starts over
  size_t max_tracked = 10'000;              // records per table (users, addresses); ~100 bytes each
};

class LoginLimiter {
 public:
  explicit LoginLimiter(const Clock& clock, LoginLimiterOptions options = {});

  // Zero when `user` may try to log in from `address` now; else how long to wait (whole
  // seconds, rounded up: the Retry-After). Checking costs no attempt.
  std::chrono::seconds Check(const std::string& user, const std::string& address);
  // A wrong name or password.
  void Failed(const std::string& user, const std::string& address);
  // A login that worked: forgets the user's failures.
  void Succeeded(const std::string& user);

  size_t TrackedUsers() const;
  size_t TrackedAddresses() const;

  // "203.0.113.7" of a peer "203.0.113.7:51234" (also "::1:51234" → "::1").
  static std::string AddressOf(const std::string& peer);

 private:
  struct Record {
    int64_t failures = 0;
    Clock::TimePoint last_failure;
    Clock::TimePoint blocked_until;
    std::list<std::string>::iterator position;  // in Table::by_age
  };
  struct Table {
    int64_t free_failures = 0;
    std::unordered_map<std::string, Record> records;
    std::list<std::string> by_age;  // oldest last failure first
  };

  std::chrono::seconds Wait(Table& table, const std::string& key, Clock::TimePoint now);  // REQUIRES(mu_)
  void Fail(Table& table, const std::string& key, Clock::TimePoint now);                  // REQUIRES(mu_)
  void Forget(Table& table, const std::string& key);                                      // REQUIRES(mu_)

  const Clock& clock_;
  LoginLimiterOptions options_;
  mutable std::mutex mu_;
  Table users_;      // GUARDED_BY(mu_)
  Table addresses_;  // GUARDED_BY(mu_)
};

}  // namespace ew::auth
