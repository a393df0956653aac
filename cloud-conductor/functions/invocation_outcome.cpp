#include "cloud-conductor/functions/invocation_outcome.hpp"

namespace ew::functions {

InvocationOutcome OutcomeOfError(const Error& error, const std::string& target) {
  InvocationOutcome outcome;
  if (error.code == ErrorCode::kDeadlineExceeded) {
    outcome.record = {{"status", "timed_out"}, {"error", error.message}};
    return outcome;
  }
  Error reported = error;
  // The board answers NotFound when the function is not installed (deploying, or its disk was
  // wiped): the invocation conflicts with the board's state, the function itself exists.
  if (error.code == ErrorCode::kNotFound && target != kCloudTarget) {
    reported = Error{ErrorCode::kConflict, "board " + target + " could not run it: " + error.message};
  }
  outcome.record = {{"status", "failed"}, {"error", reported.message}};
  outcome.error = std::move(reported);
  return outcome;
}

void LabelRecord(nlohmann::json& record, const std::string& id, const std::string& target) {
  record["invocationId"] = id;
  if (target == kCloudTarget) {
    record["target"] = kCloudTarget;
  } else {
    record["boardId"] = target;
  }
}

}  // namespace ew::functions
