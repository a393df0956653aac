// json: converts a property between a JSON string and an object (Node-RED core "json"):
// action "" toggles, "str" always to a string, "obj" always to an object; pretty printing.
// Strings are parsed with the guarded reader (size and depth limits): messages are untrusted.
#include "common/json/guarded_json.hpp"
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

class JsonNode : public RuntimeNode {
 public:
  JsonNode(FlowRuntime& rt, const flows::Node& def) : RuntimeNode(rt, def) {}

  Result<void> Configure() {
    action_ = StrProp("action", "");
    if (action_ != "" && action_ != "str" && action_ != "obj") return InvalidArgument("action \"" + action_ + "\" is not supported");
    pretty_ = BoolProp("pretty");
    EW_TRY(path_, runtime::PropertyPath::Parse(StrProp("property", "payload")));
    return Ok();
  }

  void OnInput(Msg msg) override {
    const auto* value = path_.Get(msg);
    if (!value) {
      Send(std::move(msg));  // Node-RED passes a message without the property through
      return;
    }
    if (value->is_string()) {
      if (action_ == "str") {
        Send(std::move(msg));
        return;
      }
      json::ParseLimits limits;
      limits.what = "msg." + path_.text();
      auto parsed = json::Parse(value->get_ref<const std::string&>(), limits);
      if (!parsed) {
        Error(parsed.error().message, &msg);
        return;
      }
      path_.Set(msg, std::move(*parsed));
    } else if (value->is_object() || value->is_array() || value->is_boolean() || value->is_number()) {
      if (action_ == "obj") {
        if (value->is_object() || value->is_array()) {
          Send(std::move(msg));
        } else {
          Error("Dropped: " + value->dump(), &msg);
        }
        return;
      }
      path_.Set(msg, pretty_ ? value->dump(4) : value->dump());
    } else {
      Warn("json: dropped: " + value->dump());
      return;
    }
    Send(std::move(msg));
  }

 private:
  std::string action_;
  bool pretty_ = false;
  runtime::PropertyPath path_;
};

}  // namespace

NodePtr MakeJsonNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<JsonNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
