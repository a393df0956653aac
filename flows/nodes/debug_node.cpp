// debug: hands the selected property (or the whole message) to the host's debug sink
// (ew.flow.<flow>.debug on a board) and, with tostatus, shows it in the node's status.
#include "flows/nodes/node_factories.hpp"
#include "flows/runtime/host.hpp"

namespace ew::flows::nodes {

namespace {

class DebugNode : public RuntimeNode {
 public:
  DebugNode(FlowRuntime& rt, const flows::Node& def) : RuntimeNode(rt, def) {}

  Result<void> Configure() {
    active_ = BoolProp("active", true);
    to_status_ = BoolProp("tostatus", false);
    std::string complete = StrProp("complete", "payload");
    // Node-RED's editor gives a new debug node complete: "false", which means msg.payload
    // (21-debug.js); it is what a debug node dropped from the palette exports.
    if (complete == "false" || complete.empty()) complete = "payload";
    std::string target = StrProp("targetType", "msg");
    if (target == "jsonata") return InvalidArgument("JSONata expressions are not supported on boards");
    whole_ = complete == "true" || target == "full";
    property_ = whole_ ? "msg" : complete;
    if (!whole_) {
      EW_TRY(path_, runtime::PropertyPath::Parse(complete));
    }
    return Ok();
  }

  void OnInput(Msg msg) override {
    if (!active_) return;
    runtime::DebugEvent event;
    event.node = def_.id;
    event.name = def_.name;
    event.property = property_;
    if (auto topic = msg.find("topic"); topic != msg.end() && topic->is_string()) event.topic = *topic;
    if (whole_) {
      event.msg = std::move(msg);
    } else {
      const auto* v = path_.Get(msg);
      event.msg = v ? *v : nlohmann::json();
    }
    if (to_status_) {
      std::string text = event.msg.is_string() ? event.msg.get<std::string>() : event.msg.dump();
      if (text.size() > 32) text = text.substr(0, 32) + "...";
      SetStatus("grey", "dot", text);
    }
    host().Debug(event);
  }

 private:
  bool active_ = true, to_status_ = false, whole_ = false;
  std::string property_;
  runtime::PropertyPath path_;
};

}  // namespace

NodePtr MakeDebugNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<DebugNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
