// Bodies go through protobuf's JSON mapping so that the REST API and api.proto never drift.
#include "cloud-conductor/rest/json_body.hpp"

#include <set>

#include <google/protobuf/util/json_util.h>

#include "common/json/guarded_json.hpp"

namespace ew::rest {

namespace {

namespace pbutil = google::protobuf::util;

// A name from the request, shortened for an error message.
std::string Excerpt(const std::string& text) {
  constexpr size_t kMax = 64;
  if (text.size() <= kMax) return text;
  return text.substr(0, kMax) + "...";
}

// Protobuf reports "foo: Cannot find field." and multi-line parse errors with a caret: keep the
// first line, and say plainly which field is unknown.
std::string DescribeParseError(const std::string& status_message) {
  std::string first = status_message.substr(0, status_message.find('\n'));
  while (!first.empty() && (first.back() == ' ' || first.back() == '\r')) first.pop_back();
  const std::string unknown = ": Cannot find field.";
  if (first.size() > unknown.size() && first.compare(first.size() - unknown.size(), unknown.size(), unknown) == 0)
    return "invalid request body: unknown field \"" + first.substr(0, first.size() - unknown.size()) + "\"";
  return "invalid request body: " + first;
}

// Prints without always_print_primitive_fields: protobuf 3.21 adds a stray "values":[] to
// Structs nested in a top-level ListValue when that option is set.
std::string WellKnownToJson(const google::protobuf::Message& message) {
  std::string out;
  pbutil::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  auto status = pbutil::MessageToJsonString(message, &out, options);
  if (!status.ok()) return "null";
  return out;
}

template <typename Proto>
Result<void> FromWamp(const wamp::Value& value, Proto* out, const char* what) {
  std::string text;
  try {
    text = value.dump(-1, ' ', false, wamp::Value::error_handler_t::replace);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("cannot render ") + what + " as JSON: " + e.what());
  }
  auto status = pbutil::JsonStringToMessage(text, out);
  if (!status.ok()) return InvalidArgument(std::string("cannot render ") + what + " as JSON: " + std::string(status.message()));
  return Ok();
}

}  // namespace

Result<nlohmann::json> ParseJson(const std::string& body, bool allow_empty) {
  const bool blank = body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) {
    if (allow_empty) return nlohmann::json::object();
    return InvalidArgument("a JSON request body is required");
  }
  json::ParseLimits limits;
  limits.max_bytes = body.size();  // the server already bounds bodies per route
  limits.max_depth = kMaxBodyDepth;
  limits.what = "invalid request body";
  return json::Parse(body, limits);
}

Result<nlohmann::json> ParseObject(const std::string& body, std::initializer_list<const char*> allowed) {
  EW_TRY(nlohmann::json parsed, ParseJson(body, /*allow_empty=*/true));
  if (!parsed.is_object()) return InvalidArgument("the body must be a JSON object");
  std::set<std::string> known(allowed.begin(), allowed.end());
  for (const auto& [key, value] : parsed.items()) {
    if (!known.count(key)) return InvalidArgument("unknown field \"" + Excerpt(key) + "\"");
  }
  return parsed;
}

Result<void> ParseBody(const std::string& body, google::protobuf::Message* message, bool allow_empty) {
  bool blank = body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) {
    if (allow_empty) return Ok();
    return InvalidArgument("a JSON request body is required");
  }
  // The guard first: protobuf's own parser would accept what the guard refuses (depth), and its
  // Struct/ListValue conversions recurse per level.
  EW_TRY_VOID(ParseJson(body));
  pbutil::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = pbutil::JsonStringToMessage(body, message, options);
  if (!status.ok()) return InvalidArgument(DescribeParseError(std::string(status.message())));
  return Ok();
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  pbutil::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  options.always_print_primitive_fields = true;
  auto status = pbutil::MessageToJsonString(message, &out, options);
  if (!status.ok()) return "{}";
  return out;
}

server::HttpResponse JsonResponse(int status, const google::protobuf::Message& message) {
  server::HttpResponse response;
  response.status = status;
  response.body = ToJson(message);
  return response;
}

server::HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  server::HttpResponse response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

server::HttpResponse ErrorResponse(const Error& error) {
  server::HttpResponse response;
  response.status = HttpStatus(error.code);
  response.body = ErrorJson(error);
  return response;
}

server::HttpResponse NoContent() {
  server::HttpResponse response;
  response.status = 204;
  response.content_type.clear();
  return response;
}

wamp::Value ToWampValue(const google::protobuf::ListValue& list) {
  auto value = wamp::Value::parse(WellKnownToJson(list), nullptr, false);
  return value.is_array() ? value : wamp::Value::array();
}

wamp::Value ToWampValue(const google::protobuf::Struct& object) {
  auto value = wamp::Value::parse(WellKnownToJson(object), nullptr, false);
  return value.is_object() ? value : wamp::Value::object();
}

Result<void> FromWampValue(const wamp::Value& array, google::protobuf::ListValue* out) {
  if (!array.is_array()) return InvalidArgument("positional results are not a list");
  return FromWamp(array, out, "positional results");
}

Result<void> FromWampValue(const wamp::Value& object, google::protobuf::Struct* out) {
  if (!object.is_object()) return InvalidArgument("keyword results are not an object");
  return FromWamp(object, out, "keyword results");
}

}  // namespace ew::rest
