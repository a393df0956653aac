// What a rollout of an agent update is (issue 16): the record RolloutManager keeps, RolloutStore
// persists and the REST API shows. Plain values, copied freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cloud-conductor/agents/agent_package_store.hpp"
#include "common/contract/update.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::agents {

// running → done (every board online) | stopped (a board failed or rolled back) | interrupted (the
// conductor restarted while it ran: boards not yet asked stay pending, boards that were
// installing still report; docs/ARCHITECTURE.md "Agent updates").
enum class RolloutState { kRunning, kDone, kStopped, kInterrupted };
std::string_view Name(RolloutState state);  // "running", "done", "stopped", "interrupted"
Result<RolloutState> ParseRolloutState(std::string_view text);

struct BoardUpdate {
  std::string board_id;
  contract::update::UpdateState state = contract::update::UpdateState::kPending;
  std::string message;
  int64_t started_at = 0;  // unix seconds; 0 while pending
  int64_t updated_at = 0;
  std::string agent_version;    // as the board last reported
  std::string package_version;
};

struct Rollout {
  std::string id;
  AgentPackage package;
  std::string created_by;
  int64_t created_at = 0;
  size_t parallel = 1;
  int64_t deadline_seconds = 120;
  RolloutState state = RolloutState::kRunning;
  std::string stop_reason;
  std::vector<BoardUpdate> boards;  // in rolling order
};

}  // namespace ew::conductor::agents
