// One thing wrong with a flow, named the way a flow author finds it in the editor: node id, type
// and tab. Validation and partitioning report every issue they find (up to a cap), and the REST
// API returns them as `error.details`.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/error/error.hpp"

namespace ew::flows {

struct FlowIssue {
  std::string node;  // node id ("" for the flow as a whole)
  std::string type;  // its Node-RED type
  std::string tab;   // the tab (or subflow) it is on, its `z`
  std::string message;
};

// `node "ab12" (change) on tab "t1": wires to unknown node "zz"`.
inline std::string Describe(const FlowIssue& issue) {
  if (issue.node.empty()) return issue.message;
  if (issue.tab.empty()) return fmt::format("node \"{}\" ({}): {}", issue.node, issue.type, issue.message);
  return fmt::format("node \"{}\" ({}) on tab \"{}\": {}", issue.node, issue.type, issue.tab, issue.message);
}

// InvalidArgument whose message names the first issue and how many more there are.
inline Error IssuesError(const std::vector<FlowIssue>& issues) {
  if (issues.empty()) return Error{ErrorCode::kInvalidArgument, "invalid flow"};
  std::string message = Describe(issues.front());
  if (issues.size() > 1) message += fmt::format(" (and {} more)", issues.size() - 1);
  return Error{ErrorCode::kInvalidArgument, std::move(message)};
}

}  // namespace ew::flows
