// One thing wrong with a flow, named the way a flow author finds it in the editor: node id, type
// and tab. Validation and partitioning report every issue they find (up to a cap), and the REST
// API returns them as `error.details`.
#pragma once

#include <string>
#include <string_view>
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

// At most `max` bytes of `text`, cut at a UTF-8 character boundary, "…" appended when cut. Ids
// and types come from the export: an issue quoting a megabyte-long id must not make an answer
// (up to 100 issues) a hundred times bigger than the request.
inline std::string Clip(std::string_view text, size_t max = 128) {
  if (text.size() <= max) return std::string(text);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + "\u2026";
}

// The issue with every field clipped (ids and types to 128 bytes, the message to 512).
inline FlowIssue Clipped(const FlowIssue& issue) {
  return FlowIssue{Clip(issue.node), Clip(issue.type), Clip(issue.tab), Clip(issue.message, 512)};
}

// `node "ab12" (change) on tab "t1": wires to unknown node "zz"` (fields clipped).
inline std::string Describe(const FlowIssue& full) {
  const FlowIssue issue = Clipped(full);
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
