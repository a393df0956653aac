// join (Node-RED core): "auto" reassembles what split produced (msg.parts); "custom" builds a
// string, array, object (keyed by msg.<key>, topic by default) or merged object from `count`
// messages, after `timeout` seconds, or when a message has msg.complete. "reduce" (JSONata) is
// refused. Groups in progress are capped (kMaxGroups, kMaxParts): a part beyond them is dropped.
#include <map>

#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

constexpr size_t kMaxGroups = 256;
constexpr size_t kMaxParts = 10000;

class JoinNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    mode_ = StrProp("mode", "auto");
    if (mode_ == "reduce") return InvalidArgument("reduce mode (JSONata) is not supported on boards");
    if (mode_ != "auto" && mode_ != "custom") return InvalidArgument("mode \"" + mode_ + "\" is not supported");
    build_ = StrProp("build", "array");
    if (build_ != "string" && build_ != "array" && build_ != "object" && build_ != "merged")
      return InvalidArgument("build \"" + build_ + "\" is not supported on boards");
    count_ = static_cast<size_t>(std::max(0.0, NumProp("count").value_or(0)));
    joiner_ = StrProp("joiner", "\\n");
    if (joiner_ == "\\n") joiner_ = "\n";
    key_ = StrProp("key", "topic");
    whole_ = StrProp("propertyType", "msg") == "full";
    EW_TRY(property_, runtime::PropertyPath::Parse(StrProp("property", "payload")));
    double timeout = NumProp("timeout").value_or(0);
    if (timeout > 0) timeout_ = DurationIn(timeout, "s");
    accumulate_ = BoolProp("accumulate");
    return Ok();
  }

  void OnInput(Msg msg) override {
    if (mode_ == "auto") Auto(std::move(msg));
    else Custom(std::move(msg));
  }

 private:
  struct Group {
    Msg last;
    std::map<size_t, nlohmann::json> parts;  // index -> payload (auto)
    std::vector<nlohmann::json> values;       // custom
    nlohmann::json object = nlohmann::json::object();
    std::string type, ch;
    size_t count = 0, len = 1;
    Timers::Id timer = 0;
  };

  void Auto(Msg msg) {
    auto parts = msg.find("parts");
    if (parts == msg.end() || !parts->is_object() || !parts->contains("id")) {
      Warn("join: message without msg.parts in automatic mode");
      return;
    }
    std::string id = runtime::ToJsString((*parts)["id"]);
    if (!groups_.count(id) && groups_.size() >= kMaxGroups) return;
    Group& g = groups_[id];
    g.type = parts->value("type", "array");
    g.ch = parts->value("ch", "");
    g.len = parts->value("len", 1);
    g.count = parts->value("count", 0);
    size_t index = parts->value("index", g.parts.size());
    if (g.parts.size() < kMaxParts) {
      if (g.type == "object") g.object[parts->value("key", std::to_string(index))] = msg.value("payload", nlohmann::json());
      g.parts[index] = msg.value("payload", nlohmann::json());
    }
    g.last = std::move(msg);
    if ((g.count && g.parts.size() >= g.count) || g.last.contains("complete")) Finish(id);
  }

  void Custom(Msg msg) {
    bool complete = msg.contains("complete");
    Group& g = groups_[""];
    const nlohmann::json* value = whole_ ? &msg : property_.Get(msg);
    if (value) {
      if (build_ == "object") {
        const auto* key = runtime::PropertyPath::Parse(key_).map([&](const runtime::PropertyPath& p) { return p.Get(msg); }).value_or(nullptr);
        if (key) g.object[runtime::ToJsString(*key)] = *value;
      } else if (build_ == "merged") {
        if (value->is_object()) g.object.update(*value);
      } else if (g.values.size() < kMaxParts) {
        g.values.push_back(*value);
      }
    }
    g.last = std::move(msg);
    if (timeout_.count() > 0 && !g.timer) g.timer = After(timeout_, [this] {
      groups_[""].timer = 0;
      Finish("");
    });
    size_t n = build_ == "object" || build_ == "merged" ? g.object.size() : g.values.size();
    if (complete || (count_ && n >= count_)) Finish("");
  }

  void Finish(const std::string& id) {
    auto it = groups_.find(id);
    if (it == groups_.end()) return;
    Group& g = it->second;
    if (g.timer) CancelTimer(g.timer);
    g.timer = 0;
    Msg out = g.last;
    out.erase("complete");
    if (mode_ == "auto") {
      out.erase("parts");
      if (g.type == "string") {
        std::string s;
        bool first = true;
        for (auto& [i, v] : g.parts) {
          if (!first) s += g.ch;
          first = false;
          s += runtime::ToJsString(v);
        }
        out["payload"] = s;
      } else if (g.type == "object") {
        out["payload"] = g.object;
      } else {
        nlohmann::json a = nlohmann::json::array();
        for (auto& [i, v] : g.parts) {
          if (g.len > 1 && v.is_array()) for (auto& e : v) a.push_back(e);
          else a.push_back(v);
        }
        out["payload"] = a;
      }
      groups_.erase(it);
    } else {
      nlohmann::json result;
      if (build_ == "string") {
        std::string s;
        for (size_t i = 0; i < g.values.size(); ++i) s += (i ? joiner_ : "") + runtime::ToJsString(g.values[i]);
        result = s;
      } else if (build_ == "array") {
        result = g.values;
      } else {
        result = g.object;
      }
      if (whole_ && build_ == "merged") out = result;
      else property_.Set(out, result);
      if (!accumulate_) groups_.erase(it);
    }
    Send(std::move(out));
  }

  std::string mode_, build_, joiner_, key_;
  size_t count_ = 0;
  bool whole_ = false, accumulate_ = false;
  runtime::PropertyPath property_;
  std::chrono::nanoseconds timeout_{0};
  std::map<std::string, Group> groups_;
};

}  // namespace

NodePtr MakeJoinNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<JoinNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
