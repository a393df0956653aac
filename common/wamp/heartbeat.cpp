#include "common/wamp/heartbeat.hpp"

#include <cstdint>

#include "common/json/guarded_json.hpp"

namespace ew::wamp {

nlohmann::json HeartbeatToJson(const HeartbeatTerms& terms) {
  return {{"interval_ms", terms.interval.count()}, {"timeout_ms", terms.timeout.count()}};
}

std::string HeartbeatPingPayload(const HeartbeatTerms& terms) {
  return "{\"interval_ms\":" + std::to_string(terms.interval.count()) +
         ",\"timeout_ms\":" + std::to_string(terms.timeout.count()) + "}";
}

namespace {

// Milliseconds from an integer field, or null (a decoder gives unsigned for what it read, signed
// for what it was given; anything past the bounds' top is refused before it could wrap).
std::optional<int64_t> Millis(const nlohmann::json& value, const char* key) {
  auto it = value.find(key);
  if (it == value.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(kMaxHeartbeatTimeout.count()))
    return std::nullopt;
  return it->get<int64_t>();
}

}  // namespace

std::optional<HeartbeatTerms> HeartbeatFromJson(const nlohmann::json& value) {
  if (!value.is_object()) return std::nullopt;
  const auto i = Millis(value, "interval_ms"), t = Millis(value, "timeout_ms");
  if (!i || !t || *i < kMinHeartbeatInterval.count() || *t <= *i || *t > kMaxHeartbeatTimeout.count())
    return std::nullopt;
  return HeartbeatTerms{std::chrono::milliseconds(*i), std::chrono::milliseconds(*t)};
}

std::optional<HeartbeatTerms> HeartbeatFromPingPayload(std::string_view payload) {
  if (payload.empty() || payload.front() != '{') return std::nullopt;
  json::ParseLimits limits;
  limits.max_bytes = 125;  // a control frame's payload
  limits.max_depth = 1;
  limits.what = "ping payload";
  auto parsed = json::Parse(payload, limits);
  if (!parsed) return std::nullopt;
  return HeartbeatFromJson(*parsed);
}

}  // namespace ew::wamp
