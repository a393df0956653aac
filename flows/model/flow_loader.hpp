// Loads and validates a Node-RED 4.1 flow export. Everything about the export that would make
// partitioning or a runtime go wrong is found here, reported per node (id, type, tab), before any
// work is spent on the flow.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "flows/model/flow.hpp"
#include "flows/model/flow_issue.hpp"

namespace ew::flows {

struct FlowLimits {
  // Largest export accepted as text, in bytes. Node-RED's own default for an admin API body is 5 MB.
  size_t max_bytes = 8 << 20;
  // Deepest JSON nesting: export → node → property → ... Node-RED's nodes stay below 10.
  size_t max_depth = 32;
  // Most objects (tabs, nodes, configs, groups, ...) in the export.
  size_t max_objects = 10'000;
  // Most subflow instances inside each other (a subflow using a subflow using ...).
  size_t max_subflow_depth = 8;
  // Most nodes once every subflow instance is expanded: 10 instances of a subflow holding 10
  // instances of ... would otherwise grow exponentially from a small export.
  size_t max_flat_nodes = 20'000;
  // Issues collected before giving up on the rest of the export.
  size_t max_issues = 100;
};

// Validates `value` (an array of objects, or {"flows": [...]}) and builds the Flow. On failure
// returns InvalidArgument naming the first issue (IssuesError) and, when `issues` is given, fills
// it with every issue found (up to max_issues). Checks: entries are objects with string id and
// type; ids unique; `z` names an existing tab or subflow (nodes, junctions, groups and subflow
// instances must have one); `wires` is an array of arrays of node ids on the same tab; `links`
// name link nodes; groups exist on the same tab; subflow instances name an existing subflow;
// subflow in/out ports name nodes of that subflow; env lists are arrays of {name, type, value};
// no subflow contains itself, nesting and expanded size stay within the limits.
Result<Flow> LoadFlow(const nlohmann::json& value, const FlowLimits& limits = {},
                      std::vector<FlowIssue>* issues = nullptr);

// Text → Flow through the guarded reader (size and depth checked while parsing).
Result<Flow> ParseFlow(std::string_view text, const FlowLimits& limits = {},
                       std::vector<FlowIssue>* issues = nullptr);

}  // namespace ew::flows
