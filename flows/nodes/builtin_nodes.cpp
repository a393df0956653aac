#include "flows/nodes/builtin_nodes.hpp"

#include <cmath>

#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

std::chrono::nanoseconds DurationIn(double value, const std::string& units) {
  double seconds = value;
  if (units == "ms" || units == "millisecond" || units == "milliseconds") seconds = value / 1000;
  else if (units == "min" || units == "minute" || units == "minutes") seconds = value * 60;
  else if (units == "hr" || units == "hour" || units == "hours") seconds = value * 3600;
  else if (units == "day" || units == "days") seconds = value * 86400;
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  if (seconds > 1e7) seconds = 1e7;  // ~115 days: beyond that a flow is misconfigured
  return std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
}

const runtime::NodeRegistry& BuiltinNodes() {
  static const runtime::NodeRegistry registry = [] {
    runtime::NodeRegistry r;
    r.Add("inject", MakeInjectNode);
    r.Add("debug", MakeDebugNode);
    r.Add("change", MakeChangeNode);
    r.Add("switch", MakeSwitchNode);
    r.Add("range", MakeRangeNode);
    r.Add("delay", MakeDelayNode);
    r.Add("trigger", MakeTriggerNode);
    r.Add("rbe", MakeRbeNode);
    r.Add("link in", MakeLinkInNode);
    r.Add("link out", MakeLinkOutNode);
    r.Add("link call", MakeLinkCallNode);
    r.Add("catch", MakeCatchNode);
    r.Add("status", MakeStatusNode);
    r.Add("complete", MakeCompleteNode);
    r.Add("split", MakeSplitNode);
    r.Add("join", MakeJoinNode);
    r.Add("template", MakeTemplateNode);
    r.Add("json", MakeJsonNode);
    r.Add("mqtt in", MakeMqttInNode);
    r.Add("mqtt out", MakeMqttOutNode);
    r.Add("http request", MakeHttpRequestNode);
    r.Add("edgewire-gpio-in", MakeGpioInNode);
    r.Add("edgewire-gpio-out", MakeGpioOutNode);
    r.Add("edgewire-function", MakeFunctionCallNode);
    r.Add("function", MakeFunctionNode);
    return r;
  }();
  return registry;
}

}  // namespace ew::flows::nodes
