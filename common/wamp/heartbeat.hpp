// The heartbeat a conductor holds a WebSocket peer to, as the conductor tells it (docs/ARCHITECTURE.md,
// WAMP, "Heartbeat"): silent for `interval` and the conductor pings it; silent for `timeout` and the
// conductor drops it. Under the conductor's ping ceiling both stretch with the number of sessions,
// so the conductor says what they are in WELCOME.Details.x_heartbeat and in every ping's payload,
// and a board times its own checks of the conductor by the latest it was told.
#pragma once

#include <chrono>
#include <cstdint>
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
// The same object as compact JSON text (under 70 bytes for any values: a ping's payload may hold 125).
std::string HeartbeatPingPayload(const HeartbeatTerms& terms);
// From that object (or null when it is not one, or is outside the bounds above).
std::optional<HeartbeatTerms> HeartbeatFromJson(const nlohmann::json& value);
// Whether the terms `now` differ from those a peer was `told` by more than a quarter (interval
// or timeout): worth telling it again.
inline bool HeartbeatMoved(const HeartbeatTerms& told, const HeartbeatTerms& now) {
  auto moved = [](int64_t was, int64_t is) { return (was > is ? was - is : is - was) * 4 > was; };
  return moved(told.interval.count(), now.interval.count()) || moved(told.timeout.count(), now.timeout.count());
}
// From a ping's payload; null for any other payload (an empty one, another peer's, garbage).
std::optional<HeartbeatTerms> HeartbeatFromPingPayload(std::string_view payload);

}  // namespace ew::wamp
