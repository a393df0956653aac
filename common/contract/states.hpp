// The states and statuses that cross the board contract and the store: one enum each, one
// string for each value (what boards, the REST API and the store's rows carry).
#pragma once

#include <string>
#include <string_view>

#include "common/error/error.hpp"

namespace ew::contract {

// What a board should run and how far it got: pending (board offline) → deploying → deployed
// or failed; the conductor records these, boards never see them.
enum class DeploymentState { kPending, kDeploying, kDeployed, kFailed };
std::string_view Name(DeploymentState state);  // "pending", "deploying", "deployed", "failed"
Result<DeploymentState> ParseDeploymentState(std::string_view text);

// How an invocation ended (or that it has not yet: kRunning, only in the conductor's records).
enum class InvocationStatus { kRunning, kSucceeded, kFailed, kTimedOut };
std::string_view Name(InvocationStatus status);  // "running", "succeeded", "failed", "timed_out"
Result<InvocationStatus> ParseInvocationStatus(std::string_view text);

}  // namespace ew::contract
