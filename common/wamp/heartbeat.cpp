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

std::optional<HeartbeatTerms> HeartbeatFromJson(const nlohmann::json& value) {
  if (!value.is_object()) return std::nullopt;
  auto interval = value.find("interval_ms");
  auto timeout = value.find("timeout_ms");
  // Integers only (a decoder gives unsigned for what it read, a signed one for what it was given).
  if (interval == value.end() || timeout == value.end() || !interval->is_number_integer() ||
      !timeout->is_number_integer())
    return std::nullopt;
  if ((interval->is_number_unsigned() && interval->get<uint64_t>() > static_cast<uint64_t>(kMaxHeartbeatTimeout.count())) ||
      (timeout->is_number_unsigned() && timeout->get<uint64_t>() > static_cast<uint64_t>(kMaxHeartbeatTimeout.count())))
    return std::nullopt;
  const int64_t i = interval->get<int64_t>(), t = timeout->get<int64_t>();
  if (i < kMinHeartbeatInterval.count() || t <= i || t > kMaxHeartbeatTimeout.count()) return std::nullopt;
  return HeartbeatTerms{std::chrono::milliseconds(i), std::chrono::milliseconds(t)};
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
