// What a module hears of the board's session to the conductor: a small port of its own, so
// that services (GPIO watches, trigger reports) need not include the session runner (Autobahn).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "device-agent/session/reconnect_policy.hpp"

namespace ew::agent::session {

// Lifecycle notifications (systemd status, tests). Called on the io thread.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  // Joined, every procedure registered and every subscription made: the board is reachable.
  virtual void OnReady(const std::string& url, uint64_t session_id) {}
  // The connection ended (or could not be made); next attempt in `retry_in`.
  virtual void OnDisconnected(const std::string& reason, std::chrono::milliseconds retry_in) {}
  // After OnDisconnected: what the session does next (probing an unreachable conductor, backing
  // off, or refused by it) and when, for status displays.
  virtual void OnReconnectState(ReconnectState state, const std::string& reason, std::chrono::milliseconds next_in) {}
};

}  // namespace ew::agent::session
