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

constexpr std::array<std::pair<PartitionState, std::string_view>, 5> kPartitionStates{{
    {PartitionState::kPending, "pending"},
    {PartitionState::kDeployed, "deployed"},
    {PartitionState::kOffline, "offline"},
    {PartitionState::kFailed, "failed"},
    {PartitionState::kExternal, "external"},
}};

constexpr std::array<std::pair<FlowRunState, std::string_view>, 3> kFlowRunStates{{
    {FlowRunState::kRunning, "running"},
    {FlowRunState::kFailed, "failed"},
    {FlowRunState::kStopped, "stopped"},
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

std::string_view Name(PartitionState state) {
  for (const auto& [value, name] : kPartitionStates) {
    if (value == state) return name;
  }
  return "failed";
}

Result<PartitionState> ParsePartitionState(std::string_view text) {
  for (const auto& [value, name] : kPartitionStates) {
    if (name == text) return value;
  }
  return InvalidArgument("partition state must be pending, deployed, offline, failed or external, not \"" +
                         std::string(text) + "\"");
}

std::string_view Name(FlowRunState state) {
  for (const auto& [value, name] : kFlowRunStates) {
    if (value == state) return name;
  }
  return "failed";
}

Result<FlowRunState> ParseFlowRunState(std::string_view text) {
  for (const auto& [value, name] : kFlowRunStates) {
    if (name == text) return value;
  }
  return InvalidArgument("flow state must be running, failed or stopped, not \"" + std::string(text) + "\"");
}

}  // namespace ew::contract
