// The one exit-status convention of edgewire-conductor, edgewire-agent and edgewire (the CLI),
// so that scripts and systemd can tell "fix your input" from "try again" from "you were
// refused". Documented in README.md → Exit statuses; every main() returns one of these.
#pragma once

#include "common/error/error.hpp"

namespace ew::exit_code {

inline constexpr int kOk = 0;
// Runtime failure: unreachable peer, refused certificate, I/O or store failure, a record not
// found. Trying again later (or after fixing the host) may work.
inline constexpr int kFailure = 1;
// Usage or configuration: a bad command line, config file, credential file or input file, or a
// request the conductor rejects as invalid (400). Nothing was changed; fix what the message names.
inline constexpr int kUsage = 2;
// Refused: the conductor refused who we are or what we may do (401/403, an enrolment code that
// is unknown, used or expired, a board it does not know).
inline constexpr int kRefused = 3;
// The CLI's `fn invoke` / `fn deploy --wait`: the function (or a deployment) failed.
inline constexpr int kFunctionFailed = 4;
// The CLI's `fn invoke` / `fn deploy --wait`: the function ran past its timeout, or the wait did.
inline constexpr int kTimedOut = 5;

// The status for an error that ends a command: InvalidArgument → kUsage; Unauthenticated and
// PermissionDenied → kRefused; anything else → kFailure (kFunctionFailed and kTimedOut are
// chosen by the commands that define them).
inline int ForError(const Error& error) {
  switch (error.code) {
    case ErrorCode::kInvalidArgument:
      return kUsage;
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kPermissionDenied:
      return kRefused;
    default:
      return kFailure;
  }
}

}  // namespace ew::exit_code
