// The heartbeat a conductor holds a WebSocket peer to, as the conductor tells it (docs/ARCHITECTURE.md,
// WAMP, "Heartbeat"): silent for `interval` and the conductor pings it; silent for `timeout` and the
// conductor drops it. Under the conductor's ping ceiling both stretch with the number of sessions,
// so the conductor says what they are in WELCOME.Details.x_heartbeat and in every ping's payload,
// and a board times its own checks of the conductor by the latest it was told.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ew::wamp {

struct HeartbeatTerms {
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds timeout{0};
};
// (Spelled out: the agent's sources are C++17.)
inline bool operator==(const HeartbeatTerms& a, const HeartbeatTerms& b) {
  return a.interval == b.interval && a.timeout == b.timeout;
}
inline bool operator!=(const HeartbeatTerms& a, const HeartbeatTerms& b) { return !(a == b); }

// Bounds a peer accepts: 100 ms ≤ interval < timeout ≤ 2 days. Anything else is ignored.
constexpr std::chrono::milliseconds kMinHeartbeatInterval{100};
constexpr std::chrono::milliseconds kMaxHeartbeatTimeout{2 * 24 * 3600 * 1000LL};

// {"interval_ms": ..., "timeout_ms": ...}: the value of WELCOME.Details.x_heartbeat.
nlohmann::json HeartbeatToJson(const HeartbeatTerms& terms);
// The same object as compact JSON text (at most 60 bytes: a ping's payload may hold 125).
std::string HeartbeatPingPayload(const HeartbeatTerms& terms);
// From that object (or null when it is not one, or is outside the bounds above).
std::optional<HeartbeatTerms> HeartbeatFromJson(const nlohmann::json& value);
// From a ping's payload; null for any other payload (an empty one, another peer's, garbage).
std::optional<HeartbeatTerms> HeartbeatFromPingPayload(std::string_view payload);

}  // namespace ew::wamp
