// Counts the conductor's open connections, in all and per source address, and refuses a new
// one past either cap, so that one host (or everyone together) cannot take every descriptor
// and every byte of memory before authenticating.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ew::metrics {
class Gauge;
}

namespace ew::server {

class ConnectionLimiter : public std::enable_shared_from_this<ConnectionLimiter> {
 public:
  enum class Verdict { kAdmitted, kGlobalCap, kAddressCap };

  // Held for as long as a connection is open; destroying it (on any thread) frees the slot.
  class Ticket {
   public:
    Ticket(std::shared_ptr<ConnectionLimiter> limiter, std::string address)
        : limiter_(std::move(limiter)), address_(std::move(address)) {}
    ~Ticket() { limiter_->Release(address_, in_address_cap_); }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

    // The connection turned out to be one that is bounded elsewhere (a board's tunnel
    // WebSocket, admitted by a one-time token the conductor issued within its per-board and
    // per-service limits): it stops counting against its address's cap, so that many tunnels
    // from one NATed board do not crowd out, or get refused by, the cap meant for clients. It
    // still counts against the global cap. Idempotent. Thread-safe.
    void LeaveAddressCap() {
      if (!in_address_cap_) return;
      in_address_cap_ = false;
      limiter_->ReleaseAddress(address_);
    }

   private:
    std::shared_ptr<ConnectionLimiter> limiter_;
    std::string address_;
    bool in_address_cap_ = true;
  };

  // Caps of 0 refuse everything (tests); SIZE_MAX is no cap. `open_gauge` (may be null, must
  // outlive the limiter) is kept equal to the number of open connections.
  ConnectionLimiter(size_t max_total, size_t max_per_address, metrics::Gauge* open_gauge = nullptr)
      : max_total_(max_total), max_per_address_(max_per_address), open_gauge_(open_gauge) {}

  // A ticket for a connection from `address` (an IP address, no port), or null and why not.
  // Thread-safe.
  std::unique_ptr<Ticket> TryAcquire(const std::string& address, Verdict* verdict);

  // Stops updating the gauge (its registry is about to go while tickets may still be held).
  void DetachGauge();

  size_t open() const;
  size_t open_from(const std::string& address) const;

 private:
  void Release(const std::string& address, bool in_address_cap);
  void ReleaseAddress(const std::string& address);

  const size_t max_total_;
  const size_t max_per_address_;
  metrics::Gauge* open_gauge_;  // guarded by mu_
  mutable std::mutex mu_;
  size_t total_ = 0;                                  // guarded by mu_
  std::unordered_map<std::string, size_t> by_address_;  // guarded by mu_; no zero entries
};

}  // namespace ew::server
