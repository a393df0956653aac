// One factory per node type, each in its own <type>_node.cpp; BuiltinNodes() (builtin_nodes.cpp)
// puts them in a registry.
#pragma once

#include <memory>

#include "common/error/error.hpp"
#include "flows/model/partition.hpp"
#include "flows/runtime/flow_runtime.hpp"
#include "flows/runtime/runtime_node.hpp"

namespace ew::flows::nodes {

using runtime::FlowRuntime;
using runtime::Msg;
using runtime::RuntimeNode;
using runtime::Timers;
using NodePtr = Result<std::unique_ptr<RuntimeNode>>;

NodePtr MakeInjectNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeDebugNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeChangeNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeSwitchNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeRangeNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeDelayNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeTriggerNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeRbeNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeLinkInNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeLinkOutNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeLinkCallNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeCatchNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeStatusNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeCompleteNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeSplitNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeJoinNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeTemplateNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeJsonNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeMqttInNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeMqttOutNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeHttpRequestNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeGpioInNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeGpioOutNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeFunctionCallNode(FlowRuntime& rt, const flows::Node& def);
NodePtr MakeFunctionNode(FlowRuntime& rt, const flows::Node& def);

// Node-RED durations: `value` in `units` ("ms", "s"/"second", "min"/"minute", "hr"/"hour",
// "day"), as delay and trigger export them.
std::chrono::nanoseconds DurationIn(double value, const std::string& units);

}  // namespace ew::flows::nodes
