#include "flows/runtime/supported_types.hpp"

#include <algorithm>

namespace ew::flows::runtime {

const std::vector<std::string_view>& SupportedNodeTypes() {
  static const std::vector<std::string_view> types = {
      "inject",       "debug",        "change",        "switch",      "range",    "delay",
      "trigger",      "rbe",          "link in",       "link out",    "link call", "catch",
      "status",       "complete",     "split",         "join",        "template", "json",
      "mqtt in",      "mqtt out",     "http request",  "comment",     "edgewire-gpio-in",
      "edgewire-gpio-out",            "edgewire-function",
      // Node-RED's function node, in Duktape (flows/js); its code is compiled at deploy
      // (CheckFunctionNode) so that syntax the engine lacks is refused there.
      "function"};
  return types;
}

bool IsSupportedNodeType(std::string_view type) {
  const auto& types = SupportedNodeTypes();
  return std::find(types.begin(), types.end(), type) != types.end();
}

bool IsSupportedConfigType(std::string_view type) {
  return type == "mqtt-broker" || type == "tls-config" || type == "edgewire-conductor";
}

}  // namespace ew::flows::runtime
