// EnrolRequest / EnrolResponse over nlohmann::json, mirroring protobuf's proto3 JSON rules for
// the field types these two messages use (string, int32).
#include "device-agent/enrol/enrol_messages.hpp"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/json/guarded_json.hpp"

namespace ew::agent {

namespace {

using nlohmann::json;

// The value of field `camel` (or its snake_case spelling), nullptr when absent or null.
ew::Result<const json*> Field(const json& object, const char* camel, const char* snake) {
  auto a = object.find(camel);
  auto b = object.find(snake);
  if (a != object.end() && b != object.end() && std::string_view(camel) != snake)
    return ew::InvalidArgument(std::string(camel) + ": given twice (as camelCase and snake_case)");
  auto it = a != object.end() ? a : b;
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

ew::Result<void> ReadString(const json& object, const char* camel, const char* snake, std::string& out) {
  EW_TRY(const json* value, Field(object, camel, snake));
  if (value == nullptr) return ew::Ok();
  if (!value->is_string()) return ew::InvalidArgument(std::string(camel) + ": must be a string");
  out = value->get<std::string>();
  return ew::Ok();
}

// int32 as protobuf reads it: an integral JSON number (1, 1.0, 1e3) or a decimal string with an
// optional sign ("64", "-1"), within [INT32_MIN, INT32_MAX].
ew::Result<void> ReadInt32(const json& object, const char* camel, const char* snake, int32_t& out) {
  EW_TRY(const json* value, Field(object, camel, snake));
  if (value == nullptr) return ew::Ok();
  const std::string bad = std::string(camel) + ": must be a 32-bit integer";
  double number = 0;
  if (value->is_number_integer()) {
    // Both signed and unsigned; checked against the range below without overflow.
    if (value->is_number_unsigned() ? value->get<uint64_t>() > uint64_t{INT32_MAX}
                                    : value->get<int64_t>() < INT32_MIN || value->get<int64_t>() > INT32_MAX)
      return ew::InvalidArgument(bad);
    out = static_cast<int32_t>(value->get<int64_t>());
    return ew::Ok();
  }
  if (value->is_number_float()) {
    number = value->get<double>();
  } else if (value->is_string()) {
    const std::string text = value->get<std::string>();
    const size_t start = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
    if (text.size() <= start || text.size() > start + 10 ||
        text.find_first_not_of("0123456789", start) != std::string::npos)
      return ew::InvalidArgument(bad);
    number = std::stod(text);
  } else {
    return ew::InvalidArgument(bad);
  }
  if (std::floor(number) != number || number < INT32_MIN || number > INT32_MAX) return ew::InvalidArgument(bad);
  out = static_cast<int32_t>(number);
  return ew::Ok();
}

}  // namespace

std::string EnrolRequestJson(const std::string& code, const std::string& hostname) {
  json body = json::object();
  if (!code.empty()) body["code"] = code;
  if (!hostname.empty()) body["hostname"] = hostname;
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

ew::Result<EnrolResponse> ParseEnrolResponse(std::string_view body) {
  ew::json::ParseLimits limits;
  limits.what = "the conductor's answer";
  auto parsed = ew::json::Parse(body, limits);
  if (!parsed) return ew::InvalidArgument("not JSON (" + parsed.error().message + ")");
  const json& object = *parsed;
  if (!object.is_object()) return ew::InvalidArgument("not a JSON object");
  EnrolResponse out;
  EW_TRY_VOID(ReadString(object, "boardId", "board_id", out.board_id));
  EW_TRY_VOID(ReadString(object, "secret", "secret", out.secret));
  EW_TRY_VOID(ReadString(object, "realm", "realm", out.realm));
  EW_TRY_VOID(ReadString(object, "wampUrl", "wamp_url", out.wamp_url));
  EW_TRY_VOID(ReadString(object, "salt", "salt", out.salt));
  EW_TRY_VOID(ReadInt32(object, "iterations", "iterations", out.iterations));
  EW_TRY_VOID(ReadInt32(object, "keylen", "keylen", out.keylen));
  return out;
}

}  // namespace ew::agent
