// First step of partitioning: a validated Flow becomes a flat list of runtime nodes. Subflow
// instances are expanded (copies get derived ids "<instance>-<node>", nested ones
// "<outer>-<inner>-<node>"), junctions and subflow ports disappear (a wire through them becomes
// direct wires to what they lead to), disabled nodes, disabled tabs, comments, groups and
// definitions are dropped, env is resolved and each node gets its placement (flows contract):
// node `board` → nearest enclosing group's env EDGEWIRE_BOARD → (in a subflow copy) the
// instance's placement → tab `board` or tab env EDGEWIRE_BOARD → the cloud ("").
#pragma once

#include <string>
#include <vector>

#include "common/error/error.hpp"
#include "flows/model/flow.hpp"
#include "flows/model/flow_issue.hpp"
#include "flows/model/partition.hpp"

namespace ew::flows {

struct FlatNode {
  Node node;          // wires name flattened node ids; props keep the export's own fields
  std::string board;  // placement: a board id, "" for the cloud
};

struct FlatFlow {
  std::vector<FlatNode> nodes;
  std::vector<ConfigNode> configs;  // every enabled config node (subflow copies included)
};

// Link nodes after flattening: `links` (in props) names flattened ids of nodes that exist. A
// `link out` in "link" mode (not "return") also gets wires[0] = its link targets, so that sending
// on its one port reaches them like any wire (and a target in another partition becomes a cross
// wire). InvalidArgument (issues filled, as LoadFlow) when an env list cannot be evaluated, a
// `board` is not a string, or two derived ids collide.
Result<FlatFlow> Flatten(const Flow& flow, std::vector<FlowIssue>* issues = nullptr);

}  // namespace ew::flows
