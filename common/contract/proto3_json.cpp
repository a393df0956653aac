// Proto3 JSON scalars without libprotobuf. Base64 is nettle's (already linked for ids).
#include "common/contract/proto3_json.hpp"

#include <nettle/base64.h>

#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace ew::contract {

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

Result<int64_t> ReadProto3Int64(const nlohmann::json& value) {
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return InvalidArgument("int64 out of range");
    return value.get<int64_t>();
  }
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    errno = 0;
    char* end = nullptr;
    const long long parsed = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE) return InvalidArgument("\"" + text + "\" is not an int64");
    return static_cast<int64_t>(parsed);
  }
  return InvalidArgument(std::string("an int64 must be a number or a decimal string, not ") + value.type_name());
}

Result<double> ReadProto3Double(const nlohmann::json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    if (text == "NaN") return std::nan("");
    if (text == "Infinity") return HUGE_VAL;
    if (text == "-Infinity") return -HUGE_VAL;
    char* end = nullptr;
    const double parsed = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') return InvalidArgument("\"" + text + "\" is not a double");
    return parsed;
  }
  return InvalidArgument(std::string("a double must be a number or a string, not ") + value.type_name());
}

Result<std::string> ReadProto3Bytes(const nlohmann::json& value) {
  if (!value.is_string()) return InvalidArgument("bytes must be a base64 string");
  const std::string& text = value.get_ref<const std::string&>();
  base64_decode_ctx ctx;
  base64_decode_init(&ctx);
  std::string out(BASE64_DECODE_LENGTH(text.size()), '\0');
  size_t length = out.size();
  if (!base64_decode_update(&ctx, &length, reinterpret_cast<uint8_t*>(out.data()), text.size(), text.data()) ||
      !base64_decode_final(&ctx))
    return InvalidArgument("bytes are not valid base64");
  out.resize(length);
  return out;
}

}  // namespace ew::contract
