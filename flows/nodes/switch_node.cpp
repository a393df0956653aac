// switch: routes a message to the outputs whose rule matches the property (Node-RED core
// "switch": eq/neq/lt/lte/gt/gte/btwn/cont/regex/true/false/null/nnull/empty/nempty/istype/else),
// all matching rules or only the first (checkall). JavaScript comparison semantics.
#include <regex>
#include <vector>

#include "flows/nodes/node_factories.hpp"
#include "flows/runtime/typed_value.hpp"

namespace ew::flows::nodes {

namespace {

using runtime::TypedValue;

struct SwitchRule {
  std::string op;
  std::optional<TypedValue> v, v2;
  bool v_prev = false, v2_prev = false;  // "prev": the previous value of the property
  std::optional<std::regex> regex;
  std::string type;                       // istype
};

class SwitchNode : public RuntimeNode {
 public:
  SwitchNode(FlowRuntime& rt, const flows::Node& def) : RuntimeNode(rt, def) {}

  Result<void> Configure() {
    std::string ptype = StrProp("propertyType", "msg");
    if (ptype == "jsonata") return InvalidArgument("JSONata expressions are not supported on boards");
    EW_TRY(property_, TypedValue::Parse(def_.props.value("property", nlohmann::json("payload")), ptype, "property"));
    check_all_ = StrProp("checkall", "true") == "true";
    auto rules = def_.props.find("rules");
    if (rules == def_.props.end() || !rules->is_array()) return InvalidArgument("no rules");
    int n = 0;
    static const std::vector<std::string> known = {"eq",   "neq",  "lt",    "lte",  "gt",    "gte",  "btwn",  "cont",
                                                   "regex", "true", "false", "null", "nnull", "empty", "nempty",
                                                   "istype", "else"};
    for (const auto& r : *rules) {
      std::string what = "rule " + std::to_string(++n);
      SwitchRule rule;
      rule.op = r.value("t", "");
      if (std::find(known.begin(), known.end(), rule.op) == known.end())
        return InvalidArgument(what + ": operator \"" + rule.op + "\" is not supported on boards");
      if (r.contains("v") && rule.op != "istype") {
        std::string vt = r.value("vt", "str");
        if (vt == "prev") rule.v_prev = true;
        else {
          EW_TRY(rule.v, TypedValue::Parse(r["v"], vt, what));
        }
      }
      if (rule.op == "btwn") {
        std::string v2t = r.value("v2t", "num");
        if (v2t == "prev") rule.v2_prev = true;
        else {
          EW_TRY(rule.v2, TypedValue::Parse(r.value("v2", nlohmann::json("")), v2t, what + " v2"));
        }
      }
      if (rule.op == "istype") rule.type = r.value("v", "");
      if (rule.op == "regex") {
        try {
          auto flags = std::regex::ECMAScript;
          if (r.value("case", false)) flags |= std::regex::icase;
          rule.regex.emplace(r.value("v", ""), flags);
        } catch (const std::regex_error& e) {
          return InvalidArgument(what + ": bad regular expression: " + e.what());
        }
      }
      rules_.push_back(std::move(rule));
    }
    return Ok();
  }

  void OnInput(Msg msg) override {
    nlohmann::json value = property_.Evaluate(msg, rt_, def_);
    nlohmann::json outputs = nlohmann::json::array();
    bool matched = false;
    for (size_t i = 0; i < rules_.size(); ++i) {
      const auto& rule = rules_[i];
      bool hit = rule.op == "else" ? !matched : Test(rule, value, msg);
      outputs.push_back(hit ? msg : nlohmann::json());
      if (hit) {
        matched = true;
        if (!check_all_) break;
      }
    }
    prev_ = value;
    has_prev_ = true;
    SendMany(std::move(outputs));
  }

 private:
  nlohmann::json Operand(const std::optional<TypedValue>& v, bool prev, const Msg& msg) {
    if (prev) return has_prev_ ? prev_ : nlohmann::json();
    if (!v) return nullptr;
    nlohmann::json out = v->Evaluate(msg, rt_, def_);
    return out;
  }

  bool Test(const SwitchRule& rule, const nlohmann::json& a, const Msg& msg) {
    const std::string& op = rule.op;
    if (op == "true") return a.is_boolean() && a.get<bool>();
    if (op == "false") return a.is_boolean() && !a.get<bool>();
    if (op == "null") return a.is_null();
    if (op == "nnull") return !a.is_null();
    if (op == "empty" || op == "nempty") {
      bool sized = a.is_string() || a.is_array() || a.is_object();
      if (!sized) return false;
      bool empty = a.is_string() ? a.get_ref<const std::string&>().empty() : a.empty();
      return op == "empty" ? empty : !empty;
    }
    if (op == "istype") return IsType(a, rule.type);
    if (op == "regex") return rule.regex && std::regex_search(runtime::ToJsString(a), *rule.regex);
    if ((rule.v_prev || rule.v2_prev) && !has_prev_) return false;
    nlohmann::json b = Operand(rule.v, rule.v_prev, msg);
    if (op == "eq") return runtime::LooseEquals(a, b);
    if (op == "neq") return !runtime::LooseEquals(a, b);
    if (op == "cont") return runtime::ToJsString(a).find(runtime::ToJsString(b)) != std::string::npos;
    if (op == "btwn") {
      nlohmann::json c = Operand(rule.v2, rule.v2_prev, msg);
      auto ab = runtime::LooseCompare(a, b), ac = runtime::LooseCompare(a, c);
      if (!ab || !ac) return false;
      return (*ab >= 0 && *ac <= 0) || (*ab <= 0 && *ac >= 0);
    }
    auto cmp = runtime::LooseCompare(a, b);
    if (!cmp) return false;
    if (op == "lt") return *cmp < 0;
    if (op == "lte") return *cmp <= 0;
    if (op == "gt") return *cmp > 0;
    if (op == "gte") return *cmp >= 0;
    return false;
  }

  static bool IsType(const nlohmann::json& a, const std::string& type) {
    if (type == "string") return a.is_string();
    if (type == "number") return a.is_number();
    if (type == "boolean") return a.is_boolean();
    if (type == "array") return a.is_array();
    if (type == "object") return a.is_object();
    if (type == "null") return a.is_null();
    if (type == "undefined") return a.is_null();
    if (type == "json") {
      if (!a.is_string()) return false;
      return nlohmann::json::accept(a.get<std::string>());
    }
    if (type == "buffer") return a.is_binary();
    return false;
  }

  TypedValue property_;
  bool check_all_ = true;
  std::vector<SwitchRule> rules_;
  nlohmann::json prev_;
  bool has_prev_ = false;
};

}  // namespace

NodePtr MakeSwitchNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<SwitchNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
