// Every node type of runtime::SupportedNodeTypes() with its factory (comment excepted: the
// runtime skips comments).
#pragma once

#include "flows/runtime/node_registry.hpp"

namespace ew::flows::nodes {

const runtime::NodeRegistry& BuiltinNodes();

}  // namespace ew::flows::nodes
