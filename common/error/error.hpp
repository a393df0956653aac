// Errors as values at module boundaries: ew::Result<T> = tl::expected<T, ew::Error>.
// Each code maps to one HTTP status and one WAMP error URI (see error.cpp).
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace ew {

enum class ErrorCode {
  kNotFound,
  kInvalidArgument,
  kPermissionDenied,
  kUnauthenticated,
  kConflict,
  kUnavailable,
  kDeadlineExceeded,
  kResourceExhausted,
  kCancelled,
  kInternal,
  // The callee's session ended while it held the call (the router's own answer): the call was
  // delivered and may have run, unlike kUnavailable (it was never delivered). Callers that must
  // not run something twice (the invoker's at-most-once fallback) tell the two apart by code.
  kCalleeLeft,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  Error() = default;
  Error(ErrorCode c, std::string m) : code(c), message(std::move(m)) {}
};

template <typename T>
using Result = tl::expected<T, Error>;

// A Result<void> that succeeded.
inline Result<void> Ok() { return {}; }

inline tl::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}
inline tl::unexpected<Error> NotFound(std::string m) { return MakeError(ErrorCode::kNotFound, std::move(m)); }
inline tl::unexpected<Error> InvalidArgument(std::string m) { return MakeError(ErrorCode::kInvalidArgument, std::move(m)); }
inline tl::unexpected<Error> PermissionDenied(std::string m) { return MakeError(ErrorCode::kPermissionDenied, std::move(m)); }
inline tl::unexpected<Error> Unauthenticated(std::string m) { return MakeError(ErrorCode::kUnauthenticated, std::move(m)); }
inline tl::unexpected<Error> Conflict(std::string m) { return MakeError(ErrorCode::kConflict, std::move(m)); }
inline tl::unexpected<Error> Unavailable(std::string m) { return MakeError(ErrorCode::kUnavailable, std::move(m)); }
inline tl::unexpected<Error> DeadlineExceeded(std::string m) { return MakeError(ErrorCode::kDeadlineExceeded, std::move(m)); }
inline tl::unexpected<Error> ResourceExhausted(std::string m) { return MakeError(ErrorCode::kResourceExhausted, std::move(m)); }
inline tl::unexpected<Error> Internal(std::string m) { return MakeError(ErrorCode::kInternal, std::move(m)); }
inline tl::unexpected<Error> CalleeLeft(std::string m) { return MakeError(ErrorCode::kCalleeLeft, std::move(m)); }

// Stable lower-case name used in JSON bodies: "not_found", "invalid_argument", ...
std::string_view ErrorCodeName(ErrorCode code);
// HTTP status for REST responses (404, 400, 403, 401, 409, 503, 504, 429, 499, 500; 503 for
// kCalleeLeft).
int HttpStatus(ErrorCode code);
// WAMP error URI: wamp.error.* where WAMP defines one, else ew.error.<name>.
std::string_view WampErrorUri(ErrorCode code);
// Inverse of WampErrorUri; unknown URIs map to kInternal.
ErrorCode ErrorCodeFromWampUri(std::string_view uri);
// {"error":{"code":"not_found","message":"..."}}
std::string ErrorJson(const Error& error);

}  // namespace ew

// Returns early from the enclosing function with the error of a failed Result.
// Usage: EW_TRY(auto board, store.GetBoard(id));  or  EW_TRY_VOID(store.Put(x));
#define EW_CONCAT_INNER(a, b) a##b
#define EW_CONCAT(a, b) EW_CONCAT_INNER(a, b)
#define EW_TRY(decl, expr) EW_TRY_IMPL(EW_CONCAT(ew_try_, __LINE__), decl, expr)
#define EW_TRY_IMPL(tmp, decl, expr)                      \
  auto tmp = (expr);                                      \
  if (!tmp) return tl::unexpected<::ew::Error>(std::move(tmp).error()); \
  decl = std::move(*tmp)
#define EW_TRY_VOID(expr)                                                   \
  do {                                                                      \
    auto ew_try_v = (expr);                                                 \
    if (!ew_try_v) return tl::unexpected<::ew::Error>(std::move(ew_try_v).error()); \
  } while (0)
