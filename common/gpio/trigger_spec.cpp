#include "common/gpio/trigger_spec.hpp"

namespace ew::gpio {

using nlohmann::json;

Result<Edges> ParseEdges(const std::string& text) {
  if (text == "rising") return Edges::kRising;
  if (text == "falling") return Edges::kFalling;
  if (text == "both") return Edges::kBoth;
  return InvalidArgument("edge must be rising, falling or both, not \"" + text + "\"");
}

std::string_view EdgesName(Edges edges) {
  switch (edges) {
    case Edges::kRising: return "rising";
    case Edges::kFalling: return "falling";
    case Edges::kBoth: return "both";
    case Edges::kNone: break;
  }
  return "none";
}

Result<TriggerSpec> ParseTrigger(const json& j) {
  if (!j.is_object()) return InvalidArgument("a trigger must be an object {line, edge, debounceMs}");
  for (const auto& [key, value] : j.items()) {
    if (key != "line" && key != "edge" && key != "debounceMs") return InvalidArgument("unknown field \"" + key + "\"");
  }
  TriggerSpec spec;
  auto line = j.find("line");
  if (line == j.end() || !line->is_string() || line->get_ref<const std::string&>().empty())
    return InvalidArgument("line is required (\"GPIO17\", \"17\" or \"gpiochip0:17\")");
  spec.line = line->get<std::string>();
  if (spec.line.size() > 48) return InvalidArgument("line must be at most 48 characters");
  if (auto edge = j.find("edge"); edge != j.end()) {
    if (!edge->is_string()) return InvalidArgument("edge must be rising, falling or both");
    EW_TRY(spec.edge, ParseEdges(edge->get<std::string>()));
  }
  if (auto debounce = j.find("debounceMs"); debounce != j.end()) {
    if (!debounce->is_number_integer() || debounce->get<int64_t>() < 0 || debounce->get<int64_t>() > kMaxDebounceMs)
      return InvalidArgument("debounceMs must be an integer from 0 to " + std::to_string(kMaxDebounceMs));
    spec.debounce = std::chrono::milliseconds(debounce->get<int64_t>());
  }
  return spec;
}

Result<std::vector<TriggerSpec>> ParseTriggers(const json& j) {
  std::vector<TriggerSpec> triggers;
  if (j.is_null()) return triggers;
  if (!j.is_array() || j.size() > kMaxTriggersPerDeployment)
    return InvalidArgument("triggers must be a list of at most " + std::to_string(kMaxTriggersPerDeployment) +
                           " triggers");
  for (size_t i = 0; i < j.size(); ++i) {
    auto trigger = ParseTrigger(j[i]);
    if (!trigger) return InvalidArgument("triggers[" + std::to_string(i) + "]: " + trigger.error().message);
    for (const TriggerSpec& other : triggers) {
      if (other.line == trigger->line)
        return InvalidArgument("triggers[" + std::to_string(i) + "]: line " + other.line + " has a trigger already");
    }
    triggers.push_back(std::move(*trigger));
  }
  return triggers;
}

json ToJson(const TriggerSpec& trigger) {
  return {{"line", trigger.line}, {"edge", EdgesName(trigger.edge)}, {"debounceMs", trigger.debounce.count()}};
}

json ToJson(const std::vector<TriggerSpec>& triggers) {
  json list = json::array();
  for (const TriggerSpec& trigger : triggers) list.push_back(ToJson(trigger));
  return list;
}

}  // namespace ew::gpio
