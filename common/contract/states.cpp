#include "common/contract/states.hpp"

#include <array>
#include <utility>

namespace ew::contract {

namespace {

constexpr std::array<std::pair<DeploymentState, std::string_view>, 4> kDeploymentStates{{
    {DeploymentState::kPending, "pending"},
    {DeploymentState::kDeploying, "deploying"},
    {DeploymentState::kDeployed, "deployed"},
    {DeploymentState::kFailed, "failed"},
}};

constexpr std::array<std::pair<InvocationStatus, std::string_view>, 4> kInvocationStatuses{{
    {InvocationStatus::kRunning, "running"},
    {InvocationStatus::kSucceeded, "succeeded"},
    {InvocationStatus::kFailed, "failed"},
    {InvocationStatus::kTimedOut, "timed_out"},
}};

}  // namespace

std::string_view Name(DeploymentState state) {
  for (const auto& [value, name] : kDeploymentStates) {
    if (value == state) return name;
  }
  return "failed";
}

Result<DeploymentState> ParseDeploymentState(std::string_view text) {
  for (const auto& [value, name] : kDeploymentStates) {
    if (name == text) return value;
  }
  return InvalidArgument("deployment state must be pending, deploying, deployed or failed, not \"" +
                         std::string(text) + "\"");
}

std::string_view Name(InvocationStatus status) {
  for (const auto& [value, name] : kInvocationStatuses) {
    if (value == status) return name;
  }
  return "failed";
}

Result<InvocationStatus> ParseInvocationStatus(std::string_view text) {
  for (const auto& [value, name] : kInvocationStatuses) {
    if (name == text) return value;
  }
  return InvalidArgument("invocation status must be running, succeeded, failed or timed_out, not \"" +
                         std::string(text) + "\"");
}

}  // namespace ew::contract
