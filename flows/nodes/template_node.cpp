// template (Node-RED core): renders `template` with mustache (Debian's kainjow mustache) over the
// message ({{payload}}, {{msg.payload}}, {{topic}}, sections {{#list}}..{{/list}}, {{{raw}}})
// plus {{flow.x}}, {{global.x}} and {{env.NAME}}; or copies it as is (syntax "plain"). Output a
// string or, with output "json", the parsed value, into msg/flow/global `field`.
#include <kainjow/mustache.hpp>

#include "common/json/guarded_json.hpp"
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

using Data = kainjow::mustache::data;

Data ToData(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object: {
      Data d(Data::type::object);
      for (auto it = v.begin(); it != v.end(); ++it)
        if (!it.value().is_null()) d.set(it.key(), ToData(it.value()));
      return d;
    }
    case nlohmann::json::value_t::array: {
      Data d(Data::type::list);
      for (const auto& e : v) d.push_back(ToData(e));
      return d;
    }
    case nlohmann::json::value_t::boolean:
      return Data(v.get<bool>());
    default:
      return Data(runtime::ToJsString(v));
  }
}

class TemplateNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    plain_ = StrProp("syntax", "mustache") == "plain";
    output_ = StrProp("output", "str");
    if (output_ != "str" && output_ != "json") return InvalidArgument("output \"" + output_ + "\" is not supported on boards");
    field_type_ = StrProp("fieldType", "msg");
    if (field_type_ != "msg" && field_type_ != "flow" && field_type_ != "global")
      return InvalidArgument("field type \"" + field_type_ + "\" is not supported");
    EW_TRY(field_, runtime::PropertyPath::Parse(StrProp("field", "payload")));
    text_ = StrProp("template");
    if (!plain_) {
      compiled_.emplace(text_);
      if (!compiled_->is_valid()) return InvalidArgument("template: " + compiled_->error_message());
    }
    return Ok();
  }

  void OnInput(Msg msg) override {
    std::string rendered = text_;
    if (!plain_) {
      Data data = ToData(msg);
      data.set("msg", ToData(msg));
      data.set("flow", ToData(rt_.FlowContext(def_.tab)));
      data.set("global", ToData(rt_.GlobalContext()));
      nlohmann::json env = def_.env;
      for (const char* name : {"NR_NODE_ID", "NR_NODE_NAME", "NR_FLOW_ID", "EDGEWIRE_BOARD", "EDGEWIRE_FLOW"})
        if (auto v = rt_.Env(def_, name)) env[name] = *v;
      data.set("env", ToData(env));
      rendered = compiled_->render(data);
    }
    nlohmann::json value = rendered;
    if (output_ == "json") {
      auto parsed = json::Parse(rendered);
      if (!parsed) {
        Error(parsed.error().message, &msg);
        return;
      }
      value = std::move(*parsed);
    }
    if (field_type_ == "msg") field_.Set(msg, std::move(value));
    else field_.Set(field_type_ == "flow" ? rt_.FlowContext(def_.tab) : rt_.GlobalContext(), std::move(value));
    Send(std::move(msg));
  }

 private:
  bool plain_ = false;
  std::string output_, field_type_, text_;
  runtime::PropertyPath field_;
  std::optional<kainjow::mustache::mustache> compiled_;
};

}  // namespace

NodePtr MakeTemplateNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<TemplateNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
