// When and how the board session tries again after it ended, by why it ended:
//  - the conductor is away (no TCP connection, a connection that dropped or went silent): cheap
//    TCP reachability probes on a short jittered interval, and a full connect as soon as one
//    succeeds, so that a board is back within about a probe interval of the conductor's return
//    (a backoff window that grew while the conductor was away made boards wait up to 30 s);
//  - the conductor refused this board (authentication failed: deleted board, wrong secret,
//    unknown board id): a long capped backoff, since only the operator can fix it;
//  - anything else after connecting (join timeout, registration conflict, TLS or protocol
//    error): the capped exponential backoff with full jitter (Backoff).
// Pure: time comes from an injected Clock, randomness from a RandomSource; no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock/clock.hpp"
#include "device-agent/session/backoff.hpp"

namespace ew::agent::session {

enum class DisconnectKind {
  kUnreachable,  // no connection, or an established one dropped or went silent
  kRefused,      // the conductor answered and refused this board's credentials
  kFailed,       // connected, then failed otherwise (join timeout, registration refused, TLS, protocol)
};

// What the session is doing now: sys.info and the systemd status show it.
enum class ReconnectState {
  kConnecting,  // a connection attempt is under way (also the first one)
  kConnected,   // joined and registered
  kProbing,     // the conductor is unreachable: probing it
  kBackingOff,  // waiting after a failure
  kRefused,     // waiting (long) after the conductor refused the board
};
std::string_view ReconnectStateName(ReconnectState state);

// Whether an ABORT/GOODBYE reason ("<uri>[: <message>]") is the conductor refusing this board.
bool IsRefusal(std::string_view reason);

struct ReconnectPolicyConfig {
  // Mean time between reachability probes while the conductor is unreachable. With the jitter
  // below a returning conductor is seen within 1 s; a probe is one TCP handshake.
  std::chrono::milliseconds probe_interval{750};
  // Each probe interval is drawn uniformly from interval * [1 - jitter, 1 + jitter], so boards
  // that lost the conductor together do not probe (and then join) in lock-step.
  double probe_jitter = 1.0 / 3.0;
  // kFailed: first backoff window and cap (SessionOptions::reconnect_initial / reconnect_max).
  std::chrono::milliseconds retry_initial{500};
  std::chrono::milliseconds retry_max{30'000};
  // kRefused: first backoff window and cap. Long: a refused board cannot fix itself, and a
  // fleet of boards with stale credentials should not load the conductor's authentication.
  std::chrono::milliseconds refused_initial{30'000};
  std::chrono::milliseconds refused_max{std::chrono::minutes(10)};
  // A session that stayed up this long counts as healthy: the backoffs start over.
  std::chrono::milliseconds stable_after{10'000};
};

// The next step after a disconnect or a failed probe: wait `delay`, then probe the conductor's
// TCP port (kProbe) or make a full connection attempt (kConnect).
struct ReconnectStep {
  enum class Action { kProbe, kConnect };
  Action action = Action::kConnect;
  std::chrono::milliseconds delay{0};
};

class ReconnectPolicy {
 public:
  // `clock` must outlive the policy. Io thread only (not thread-safe).
  ReconnectPolicy(ReconnectPolicyConfig config, const ew::Clock& clock,
                  Backoff::RandomSource random = Backoff::DefaultRandom());

  // A connection attempt starts.
  void OnConnecting();
  // Joined and registered.
  void OnReady();
  // The session (or the attempt) ended for `kind`, with `reason` for the status.
  ReconnectStep OnDisconnected(DisconnectKind kind, const std::string& reason);
  // A probe failed: probe again after the returned delay.
  std::chrono::milliseconds OnProbeFailed();

  ReconnectState state() const { return state_; }
  const std::string& last_reason() const { return last_reason_; }
  uint64_t refusals() const { return refusals_; }        // refused attempts since the last ready
  uint64_t connections() const { return connections_; }  // sessions that became ready
  // Failed attempts in a row of the current kind (for the "attempt N" log line).
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds ProbeDelay();

  ReconnectPolicyConfig config_;
  const ew::Clock& clock_;
  Backoff::RandomSource random_;
  Backoff retry_;
  Backoff refused_;
  ReconnectState state_ = ReconnectState::kConnecting;
  std::string last_reason_;
  std::chrono::steady_clock::time_point ready_at_{};
  bool was_ready_ = false;
  uint64_t refusals_ = 0;
  uint64_t connections_ = 0;
  int attempt_ = 0;
};

}  // namespace ew::agent::session
