// `edgewire flow ...`: distributed Node-RED flows (REST /v1/flows). FLOW is a flow id or name.
// Errors as in commands.hpp; a flow the conductor refuses prints the node it names.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "cloud-conductor/cli/commands.hpp"
#include "common/error/error.hpp"

namespace ew::cli {

struct FlowDeployOptions {
  std::string name;              // "" = the file's name without its extension
  std::string cloud = "conductor";  // "conductor" | "external"
  // How long to follow partitions still pending in the conductor's answer (GET .../status).
  std::chrono::milliseconds wait{15'000};
};

// The flow object for an id or a name. NotFound when neither matches; InvalidArgument naming the
// ids when several flows (of several projects, for an admin) have the name.
Result<nlohmann::json> LookUpFlow(Context& ctx, const std::string& text);

// Reads a Node-RED export (a JSON array, or {"flows": [...]}) and posts it as a new flow or a new
// version of the flow of that name; prints each partition's board and state.
Result<void> FlowDeploy(Context& ctx, const std::string& file, const FlowDeployOptions& options);
Result<void> FlowList(Context& ctx);
Result<void> FlowShow(Context& ctx, const std::string& flow);
Result<void> FlowDelete(Context& ctx, const std::string& flow);
Result<void> FlowStatus(Context& ctx, const std::string& flow);

}  // namespace ew::cli
