// change: set / change / delete / move rules on msg, flow and global properties, in order
// (Node-RED core "change" node). JSONata values are refused at load.
#include <regex>
#include <vector>

#include "flows/nodes/node_factories.hpp"
#include "flows/runtime/typed_value.hpp"

namespace ew::flows::nodes {

namespace {

using runtime::PropertyPath;
using runtime::TypedValue;

// A property and where it lives (msg, flow or global context).
struct Target {
  std::string type = "msg";
  PropertyPath path;

  static Result<Target> Parse(const nlohmann::json& p, const std::string& type, const std::string& what) {
    Target t;
    t.type = type.empty() ? "msg" : type;
    if (t.type != "msg" && t.type != "flow" && t.type != "global")
      return InvalidArgument(what + ": property type \"" + t.type + "\" is not supported on boards");
    std::string text = p.is_string() ? p.get<std::string>() : "";
    EW_TRY(t.path, PropertyPath::Parse(t.type == "msg" ? text : runtime::ContextKey(text)));
    return t;
  }
  nlohmann::json& Root(Msg& msg, FlowRuntime& rt, const flows::Node& def) const {
    return type == "msg" ? msg : type == "flow" ? rt.FlowContext(def.tab) : rt.GlobalContext();
  }
};

struct Rule {
  std::string action;  // set, change, delete, move
  Target property;
  TypedValue to;
  Target move_to;
  TypedValue from;
  std::optional<std::regex> from_regex;
};

class ChangeNode : public RuntimeNode {
 public:
  ChangeNode(FlowRuntime& rt, const flows::Node& def) : RuntimeNode(rt, def) {}

  Result<void> Configure() {
    auto rules = def_.props.find("rules");
    if (rules == def_.props.end() || !rules->is_array()) return InvalidArgument("no rules");
    int n = 0;
    for (const auto& r : *rules) {
      std::string what = "rule " + std::to_string(++n);
      Rule rule;
      rule.action = r.value("t", "");
      EW_TRY(rule.property, Target::Parse(r.value("p", nlohmann::json("")), r.value("pt", "msg"), what));
      if (rule.action == "set") {
        EW_TRY(rule.to, TypedValue::Parse(r.value("to", nlohmann::json("")), r.value("tot", "str"), what + " to"));
      } else if (rule.action == "change") {
        std::string fromt = r.value("fromt", "str");
        EW_TRY(rule.from, TypedValue::Parse(r.value("from", nlohmann::json("")), fromt, what + " from"));
        EW_TRY(rule.to, TypedValue::Parse(r.value("to", nlohmann::json("")), r.value("tot", "str"), what + " to"));
        if (fromt == "re") {
          try {
            rule.from_regex.emplace(rule.from.literal().get<std::string>(), std::regex::ECMAScript);
          } catch (const std::regex_error& e) {
            return InvalidArgument(what + ": bad regular expression: " + e.what());
          }
        }
      } else if (rule.action == "move") {
        EW_TRY(rule.move_to, Target::Parse(r.value("to", nlohmann::json("")), r.value("tot", "msg"), what + " to"));
      } else if (rule.action != "delete") {
        return InvalidArgument(what + ": action \"" + rule.action + "\" is not supported");
      }
      rules_.push_back(std::move(rule));
    }
    return Ok();
  }

  void OnInput(Msg msg) override {
    for (const auto& rule : rules_) Apply(rule, msg);
    Send(std::move(msg));
  }

 private:
  void Apply(const Rule& rule, Msg& msg) {
    auto& root = rule.property.Root(msg, rt_, def_);
    if (rule.action == "set") {
      if (rule.to.kind() == TypedValue::Kind::kMsg || rule.to.kind() == TypedValue::Kind::kFlow ||
          rule.to.kind() == TypedValue::Kind::kGlobal) {
        const nlohmann::json& src = rule.to.kind() == TypedValue::Kind::kMsg ? msg
                                    : rule.to.kind() == TypedValue::Kind::kFlow ? rt_.FlowContext(def_.tab)
                                                                                : rt_.GlobalContext();
        const auto* v = rule.to.path().Get(src);
        if (!v) {
          rule.property.path.Delete(root);  // setting to undefined removes the property
          return;
        }
        nlohmann::json copy = *v;
        rule.property.path.Set(root, std::move(copy));
        return;
      }
      rule.property.path.Set(root, rule.to.Evaluate(msg, rt_, def_));
    } else if (rule.action == "delete") {
      rule.property.path.Delete(root);
    } else if (rule.action == "move") {
      const auto* v = rule.property.path.Get(root);
      if (!v) return;
      nlohmann::json value = *v;
      rule.property.path.Delete(root);
      rule.move_to.path.Set(rule.move_to.Root(msg, rt_, def_), std::move(value));
    } else {
      Change(rule, msg, root);
    }
  }

  // Node-RED: in a string, every match of `from` is replaced (a regex, or the literal text); a
  // string, number or boolean equal to `from` as a whole becomes `to` with its own type.
  void Change(const Rule& rule, Msg& msg, nlohmann::json& root) {
    const auto* current = rule.property.path.Get(root);
    if (!current) return;
    nlohmann::json to = rule.to.Evaluate(msg, rt_, def_);
    nlohmann::json from = rule.from.Evaluate(msg, rt_, def_);
    if (current->is_string()) {
      const std::string& s = current->get_ref<const std::string&>();
      if (rule.from_regex) {
        if (!to.is_string() && std::regex_match(s, *rule.from_regex)) {
          rule.property.path.Set(root, to);
          return;
        }
        rule.property.path.Set(root, std::regex_replace(s, *rule.from_regex, runtime::ToJsString(to)));
        return;
      }
      std::string needle = runtime::ToJsString(from);
      if (needle.empty()) return;
      if (!to.is_string() && s == needle) {
        rule.property.path.Set(root, to);
        return;
      }
      std::string out, replacement = runtime::ToJsString(to);
      size_t i = 0;
      for (size_t at; (at = s.find(needle, i)) != std::string::npos; i = at + needle.size()) out += s.substr(i, at - i) + replacement;
      out += s.substr(i);
      rule.property.path.Set(root, std::move(out));
    } else if ((current->is_number() || current->is_boolean()) && runtime::LooseEquals(*current, from) &&
               current->type() == (from.is_number() && current->is_number() ? current->type() : from.type())) {
      rule.property.path.Set(root, to);
    }
  }

  std::vector<Rule> rules_;
};

}  // namespace

NodePtr MakeChangeNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<ChangeNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
