#include "cloud-conductor/agents/rollout.hpp"

#include <array>

namespace ew::conductor::agents {

namespace {
constexpr std::array<std::string_view, 4> kStateNames = {"running", "done", "stopped", "interrupted"};
}  // namespace

std::string_view Name(RolloutState state) { return kStateNames[static_cast<size_t>(state)]; }

Result<RolloutState> ParseRolloutState(std::string_view text) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == text) return static_cast<RolloutState>(i);
  }
  return InvalidArgument("unknown rollout state " + std::string(text.substr(0, 32)));
}

}  // namespace ew::conductor::agents
