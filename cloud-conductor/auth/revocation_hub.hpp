// Fans revocations out to whoever holds live sessions or streams (the router, GPIO event
// streams), and turns token expiry into a revocation at the moment a token expires, so that a
// live session ends then and not on its next use. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cloud-conductor/auth/revocation.hpp"
#include "common/clock/clock.hpp"

namespace ew::auth {

class RevocationHub {
 public:
  using Listener = std::function<void(const Revocation&)>;

  // Expiry timers run on `timers` (the conductor's io executor). `clock` gives the wall time
  // expiries are compared with. Both outlive the hub; destroy the hub before the io_context.
  RevocationHub(boost::asio::any_io_executor timers, const Clock& clock);
  ~RevocationHub();
  RevocationHub(const RevocationHub&) = delete;
  RevocationHub& operator=(const RevocationHub&) = delete;

  // `listener` hears every revocation from now on, on the thread that revokes (a blocking-pool
  // thread, or the timer executor for expiries); it must not block. It may still be called
  // once after Unsubscribe returns if a revocation was in flight: capture weak pointers.
  uint64_t Subscribe(Listener listener);
  void Unsubscribe(uint64_t id);

  // Tells every listener, before returning.
  void Revoke(const Revocation& revocation);

  // Announces Revocation{kToken, token_id, "ew.close.token_expired"} when the wall clock passes
  // `expires_at` (Unix seconds; 0 = the token never expires: nothing to do). At once when it is
  // already past. Once per token id, however often it is asked; a kToken revocation of the
  // token cancels it. Call it for every token that opens a session or stream. The timers live
  // on a strand of the executor: the effect (and PendingExpiries) follows once it ran.
  void ExpireAt(const std::string& token_id, int64_t expires_at);

  size_t ListenerCount() const;
  size_t PendingExpiries() const;

 private:
  void Expired(const std::string& token_id);

  boost::asio::any_io_executor timers_;  // a strand: timers are created, cancelled and fired only there
  const Clock& clock_;
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;                                                           // GUARDED_BY(mu_)
  std::map<uint64_t, std::shared_ptr<Listener>> listeners_;                       // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::unique_ptr<boost::asio::steady_timer>> expiries_;  // GUARDED_BY(mu_)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::auth
