// Mapping of Edgewire error codes to names, HTTP statuses and WAMP URIs.
#include "common/error/error.hpp"

#include <nlohmann/json.hpp>

namespace ew {

namespace {
struct CodeInfo {
  ErrorCode code;
  std::string_view name;
  int http;
  std::string_view wamp;
};

constexpr CodeInfo kCodes[] = {
    {ErrorCode::kNotFound, "not_found", 404, "wamp.error.no_such_procedure"},
    {ErrorCode::kInvalidArgument, "invalid_argument", 400, "wamp.error.invalid_argument"},
    {ErrorCode::kPermissionDenied, "permission_denied", 403, "wamp.error.not_authorized"},
    {ErrorCode::kUnauthenticated, "unauthenticated", 401, "wamp.error.authentication_failed"},
    {ErrorCode::kConflict, "conflict", 409, "ew.error.conflict"},
    {ErrorCode::kUnavailable, "unavailable", 503, "ew.error.unavailable"},
    {ErrorCode::kDeadlineExceeded, "deadline_exceeded", 504, "wamp.error.timeout"},
    {ErrorCode::kResourceExhausted, "resource_exhausted", 429, "ew.error.resource_exhausted"},
    {ErrorCode::kCancelled, "cancelled", 499, "wamp.error.canceled"},
    {ErrorCode::kCalleeLeft, "callee_left", 503, "ew.error.callee_left"},
    // Last: Info() falls back to it for an unknown code.
    {ErrorCode::kInternal, "internal", 500, "ew.error.internal"},
};

const CodeInfo& Info(ErrorCode code) {
  for (const auto& info : kCodes) {
    if (info.code == code) return info;
  }
  return kCodes[std::size(kCodes) - 1];
}
}  // namespace

std::string_view ErrorCodeName(ErrorCode code) { return Info(code).name; }
int HttpStatus(ErrorCode code) { return Info(code).http; }
std::string_view WampErrorUri(ErrorCode code) { return Info(code).wamp; }

ErrorCode ErrorCodeFromWampUri(std::string_view uri) {
  for (const auto& info : kCodes) {
    if (info.wamp == uri) return info.code;
  }
  // Other standard WAMP errors that have a natural Edgewire meaning.
  if (uri == "wamp.error.no_such_registration" || uri == "wamp.error.no_such_subscription" ||
      uri == "wamp.error.no_such_realm")
    return ErrorCode::kNotFound;
  if (uri == "wamp.error.procedure_already_exists") return ErrorCode::kConflict;
  if (uri == "wamp.error.invalid_uri" || uri == "wamp.error.protocol_violation")
    return ErrorCode::kInvalidArgument;
  if (uri == "wamp.error.no_available_callee") return ErrorCode::kUnavailable;
  return ErrorCode::kInternal;
}

std::string ErrorJson(const Error& error) {
  nlohmann::json body = {{"error", {{"code", ErrorCodeName(error.code)}, {"message", error.message}}}};
  // Messages may quote input (a parser's "last read: '...'"), which may be invalid UTF-8: replaced
  // with U+FFFD, never thrown on (tests/fuzz found a function.json that made this throw).
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ew
