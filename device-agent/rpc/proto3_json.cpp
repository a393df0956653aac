// Proto3 JSON scalars without libprotobuf. Base64 is nettle's (already linked for ids).
#include "device-agent/rpc/proto3_json.hpp"

#include <nettle/base64.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace ew::agent::rpc {

nlohmann::json Proto3Double(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  // protobuf's SimpleDtoa: DBL_DIG significant digits when they read back exactly, else
  // DBL_DIG + 2. The agent never calls setlocale, so the radix is '.'.
  char text[32];
  std::snprintf(text, sizeof text, "%.*g", DBL_DIG, value);
  if (std::strtod(text, nullptr) != value) std::snprintf(text, sizeof text, "%.*g", DBL_DIG + 2, value);
  // Parsing the text gives the same JSON type (integer or float) the protobuf path gave.
  return nlohmann::json::parse(text);
}

nlohmann::json Proto3Int64(int64_t value) { return std::to_string(value); }

nlohmann::json Proto3Bytes(std::string_view bytes) {
  std::string out(BASE64_ENCODE_RAW_LENGTH(bytes.size()), '\0');
  base64_encode_raw(out.data(), bytes.size(), reinterpret_cast<const uint8_t*>(bytes.data()));
  return out;
}

}  // namespace ew::agent::rpc
