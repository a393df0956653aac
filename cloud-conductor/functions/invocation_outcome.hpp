// How an invocation ended, as the invoker and the cloud runtime hand it on.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::functions {

inline constexpr const char* kCloudTarget = "cloud";

// `record` is always there (docs/FUNCTIONS.md, with invocationId and boardId or target
// "cloud") and is what gets stored. `error` is set when the function's own result could not be
// had (board gone, function not installed there, queue full, ...): its code is the HTTP
// status. A function that failed or timed out is not an error here: `record.status` says so.
struct InvocationOutcome {
  nlohmann::json record;
  std::optional<Error> error;
};

// The outcome of an invocation whose result never came: no answer in time is a timeout of the
// function as the caller sees it; anything else is a failure with its reason kept as the error.
// `target` is a board id or kCloudTarget.
InvocationOutcome OutcomeOfError(const Error& error, const std::string& target);

// Labels an invocation record: its invocationId and where it ran (boardId, or target "cloud").
void LabelRecord(nlohmann::json& record, const std::string& id, const std::string& target);

}  // namespace ew::functions
