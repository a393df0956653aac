// Limits password guessing. Failed logins are counted in three tables: per source address, per
// (user name, address) and per user name across all addresses. The first two delay: past a few
// free failures each further one makes that address (or that name from that address) wait, the
// delay doubling up to a cap. The per-name table only paces: past a high threshold of failures in
// a window, that name may be tried at most once per interval from anywhere, so a distributed
// guesser is slowed but nobody can lock a user out from an address they never used (keyed by name
// alone, the delay let anyone lock admin out by failing logins for that name from anywhere).
//
// Attempts in flight count too. A login is admitted by Begin() and holds a slot in each table
// until its Attempt ends (failed, succeeded, or dropped unfinished), so concurrent guesses beyond
// what is left of a budget are refused at once instead of all passing before the first failure
// is recorded. Memory is bounded: each table keeps at most max_tracked records and evicts the one
// touched longest ago. Time comes from a Clock (ManualClock in tests). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock/clock.hpp"

namespace ew::auth {

struct LoginLimiterOptions {
  int64_t free_failures_per_user = 5;       // failures of one name from one address before delays start
  int64_t free_failures_per_address = 20;   // failures from one address (NAT: many users) before delays start
  std::chrono::seconds first_delay{1};      // delay after the first failure past the free ones; doubles per further one
  std::chrono::seconds max_delay{300};      // cap of the delay (5 min)
  std::chrono::seconds forget_after{3600};  // a record whose last failure is older than this starts over
  int64_t user_failures_before_pacing = 1000;  // failures of one name from all addresses in user_window before pacing
  std::chrono::seconds user_window{600};       // the window user_failures_before_pacing is counted in (10 min)
  std::chrono::seconds user_pace{1};           // once paced: one attempt at that name per this, from anywhere
  size_t max_tracked = 10'000;              // records per table; ~120 bytes each
};

class LoginLimiter {
 public:
  // One admitted login: holds its slot in the limiter until it ends. Failed() and Succeeded()
  // record the outcome; destroyed without either (a 503, an internal error) it only gives its
  // slot back. Must not outlive the limiter. Move-only.
  class Attempt {
   public:
    Attempt(const Attempt&) = delete;
    Attempt& operator=(const Attempt&) = delete;
    ~Attempt();
    void Failed();     // a wrong name or password
    void Succeeded();  // forgets this name's failures from this address

   private:
    friend class LoginLimiter;
    Attempt(LoginLimiter& limiter, std::string user, std::string address)
        : limiter_(limiter), user_(std::move(user)), address_(std::move(address)) {}
    LoginLimiter& limiter_;
    std::string user_;
    std::string address_;
    bool ended_ = false;
  };

  struct Admission {
    std::unique_ptr<Attempt> attempt;     // null when refused
    std::chrono::seconds retry_after{0};  // when refused: whole seconds, rounded up (≥ 1)
  };

  explicit LoginLimiter(const Clock& clock, LoginLimiterOptions options = {});

  // Admits a login of `user` from `address` now, or refuses it with how long to wait. An
  // attempt is refused while a delay runs, and also when the attempts already in flight could
  // use up what is left of a table's free failures (retry_after 1 s: they end within a hash).
  Admission Begin(const std::string& user, const std::string& address);

  // What Begin would answer now, without admitting anything: zero, or the wait.
  std::chrono::seconds Check(const std::string& user, const std::string& address);
  // Outcomes recorded directly, for a login that was not admitted through Begin.
  void Failed(const std::string& user, const std::string& address);
  void Succeeded(const std::string& user, const std::string& address);

  size_t TrackedUsers() const;      // records of (name, address)
  size_t TrackedAddresses() const;
  size_t InFlight(const std::string& address) const;

  // "203.0.113.7" of a peer "203.0.113.7:51234" (also "::1:51234" → "::1").
  static std::string AddressOf(const std::string& peer);

 private:
  struct Record {
    int64_t failures = 0;
    int64_t in_flight = 0;
    Clock::TimePoint first_failure;  // window start (paced table)
    Clock::TimePoint last_failure;
    Clock::TimePoint blocked_until;  // delaying tables: after a failure; paced table: next start
    std::list<std::string>::iterator position;  // in Table::by_age
  };
  enum class Kind { kDelaying, kPacing };
  struct Table {
    Kind kind = Kind::kDelaying;
    int64_t free_failures = 0;
    std::unordered_map<std::string, Record> records;
    std::list<std::string> by_age;  // least recently touched first
  };
  struct Keys {
    std::string address, pair, user;
  };

  static Keys KeysOf(const std::string& user, const std::string& address);
  // All REQUIRES(mu_).
  std::chrono::seconds Wait(Table& table, const std::string& key, Clock::TimePoint now);
  Record& Touch(Table& table, const std::string& key, Clock::TimePoint now);
  void Fail(Table& table, const std::string& key, Clock::TimePoint now);
  void Release(Table& table, const std::string& key);
  void Forget(Table& table, const std::string& key);
  bool Stale(const Table& table, const Record& record, Clock::TimePoint now) const;
  void End(const Attempt& attempt, bool failed, bool succeeded);

  const Clock& clock_;
  LoginLimiterOptions options_;
  mutable std::mutex mu_;
  Table addresses_;  // GUARDED_BY(mu_)
  Table pairs_;      // GUARDED_BY(mu_) (name, address)
  Table users_;      // GUARDED_BY(mu_) name, all addresses: paced
};

}  // namespace ew::auth
