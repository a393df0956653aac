// The node types a board (and the conductor's C++ cloud runner) implements: the one list the
// conductor checks deploys against and flows/nodes registers factories for (a test holds the two
// together). Types outside it may only run in a Node-RED-hosted cloud partition.
#pragma once

#include <string_view>
#include <vector>

namespace ew::flows::runtime {

// inject, debug, change, ... edgewire-function; "comment" too (loaded as nothing).
const std::vector<std::string_view>& SupportedNodeTypes();
bool IsSupportedNodeType(std::string_view type);
// Config node types a partition may carry (mqtt-broker, edgewire-conductor).
bool IsSupportedConfigType(std::string_view type);

}  // namespace ew::flows::runtime
