// edgewire-gpio-out: drives a board GPIO line from msg.payload (truthy, 0/1, "0"/"1",
// true/false) through the Host; `level` ("" = leave, 0, 1) is set when the flow starts.
#include "flows/nodes/node_factories.hpp"
#include "flows/runtime/host.hpp"

namespace ew::flows::nodes {

namespace {

class GpioOutNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    line_ = StrProp("line");
    if (line_.empty()) return InvalidArgument("no line");
    std::string level = StrProp("level", "");
    if (level == "0" || level == "1") initial_ = level == "1" ? 1 : 0;
    else if (!level.empty()) return InvalidArgument("level must be \"\", 0 or 1");
    return Ok();
  }

  Result<void> Start() override {
    if (initial_) EW_TRY_VOID(host().WriteGpio(Owner(), line_, *initial_));
    return Ok();
  }

  void OnInput(Msg msg) override {
    const auto& payload = msg.contains("payload") ? msg["payload"] : nlohmann::json();
    int level;
    if (payload.is_string()) {
      const auto& s = payload.get_ref<const std::string&>();
      if (s == "0" || s == "false" || s == "off" || s.empty()) level = 0;
      else if (s == "1" || s == "true" || s == "on") level = 1;
      else {
        Error("payload \"" + s + "\" is not a level (0, 1, true, false)", &msg);
        return;
      }
    } else {
      level = runtime::IsTruthy(payload) ? 1 : 0;
    }
    if (auto written = host().WriteGpio(Owner(), line_, level); !written) {
      Error(written.error().message, &msg);
      SetStatus("red", "ring", written.error().message);
      return;
    }
    SetStatus("green", "dot", std::to_string(level));
  }

  void Close() override { host().ReleaseGpio(Owner()); }

 private:
  std::string line_;
  std::optional<int> initial_;
};

}  // namespace

NodePtr MakeGpioOutNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<GpioOutNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
