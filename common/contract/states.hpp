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

// A flow partition as the conductor records it (REST /v1/flows, the store's rows): pending (its
// runtime has not answered yet), deployed (running at its version), offline (the board gets it
// when it returns), failed (error says why), external (the cloud partition runs in the user's
// Node-RED, not in the conductor).
enum class PartitionState { kPending, kDeployed, kOffline, kFailed, kExternal };
std::string_view Name(PartitionState state);  // "pending", "deployed", "offline", "failed", "external"
Result<PartitionState> ParsePartitionState(std::string_view text);

// What a flow runtime (a board's, or the conductor's cloud runner) says of a partition it holds:
// flow.deploy / flow.stop / flow.list answers. running; failed (loaded, but a node did not start:
// a busy GPIO line); stopped.
enum class FlowRunState { kRunning, kFailed, kStopped };
std::string_view Name(FlowRunState state);  // "running", "failed", "stopped"
Result<FlowRunState> ParseFlowRunState(std::string_view text);

}  // namespace ew::contract
