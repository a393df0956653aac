// An edge trigger of a deployment (docs/GPIO.md, "Edge triggers"): invoke the function on the
// board for these edges of `line`. Parsed the same way by the conductor (REST) and the agent.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "common/gpio/gpio_chip.hpp"

namespace ew::gpio {

struct TriggerSpec {
  std::string line;
  Edges edge = Edges::kRising;
  std::chrono::milliseconds debounce{0};
};

inline constexpr size_t kMaxTriggersPerDeployment = 16;
inline constexpr int64_t kMaxDebounceMs = 1000;

// {"line", "edge" (rising), "debounceMs" (0)} → TriggerSpec; InvalidArgument naming the field.
Result<TriggerSpec> ParseTrigger(const nlohmann::json& json);
// A list of at most kMaxTriggersPerDeployment triggers, each line once; null/absent = none.
Result<std::vector<TriggerSpec>> ParseTriggers(const nlohmann::json& json);
nlohmann::json ToJson(const TriggerSpec& trigger);
nlohmann::json ToJson(const std::vector<TriggerSpec>& triggers);

// "rising" | "falling" | "both" ↔ Edges (kNone is never parsed).
Result<Edges> ParseEdges(const std::string& text);
std::string_view EdgesName(Edges edges);

}  // namespace ew::gpio
