// split (Node-RED core): a string into parts at `splt` (escapes such as "\n" understood), an
// array into chunks of `arraySplt`, an object into one message per key (key in msg.parts.key or
// `addname`). Each part carries msg.parts {id, index, count, type, ch|len|key} for join.
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char c = s[++i];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == '0' ? '\0' : c;
    } else {
      out += s[i];
    }
  }
  return out;
}

class SplitNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    std::string type = StrProp("spltType", "str");
    if (type == "len") {
      auto n = NumProp("splt");
      if (!n || *n < 1) return InvalidArgument("split length must be at least 1");
      string_len_ = static_cast<size_t>(*n);
    } else if (type == "str") {
      separator_ = Unescape(StrProp("splt", "\\n"));
    } else {
      return InvalidArgument("split type \"" + type + "\" is not supported on boards");
    }
    if (BoolProp("stream")) return InvalidArgument("streaming mode is not supported on boards");
    array_len_ = static_cast<size_t>(std::max(1.0, NumProp("arraySplt").value_or(1)));
    addname_ = StrProp("addname");
    return Ok();
  }

  void OnInput(Msg msg) override {
    if (!msg.contains("payload")) return;
    nlohmann::json payload = std::move(msg["payload"]);
    std::string id = runtime::NewMessageId();
    if (payload.is_string()) {
      std::vector<std::string> parts;
      const std::string& s = payload.get_ref<const std::string&>();
      if (string_len_) {
        for (size_t i = 0; i < s.size(); i += string_len_) parts.push_back(s.substr(i, string_len_));
      } else if (separator_.empty()) {
        for (char c : s) parts.emplace_back(1, c);
      } else {
        size_t i = 0;
        for (size_t at; (at = s.find(separator_, i)) != std::string::npos; i = at + separator_.size())
          parts.push_back(s.substr(i, at - i));
        parts.push_back(s.substr(i));
      }
      for (size_t i = 0; i < parts.size(); ++i) {
        Msg out = msg;
        out["_msgid"] = runtime::NewMessageId();
        out["payload"] = parts[i];
        out["parts"] = {{"id", id}, {"index", i}, {"count", parts.size()}, {"type", "string"}};
        if (string_len_) out["parts"]["len"] = string_len_;
        else out["parts"]["ch"] = separator_;
        Send(std::move(out));
      }
    } else if (payload.is_array()) {
      size_t count = (payload.size() + array_len_ - 1) / array_len_;
      for (size_t i = 0; i < count; ++i) {
        Msg out = msg;
        out["_msgid"] = runtime::NewMessageId();
        if (array_len_ == 1) out["payload"] = payload[i];
        else {
          auto first = payload.begin() + static_cast<long>(i * array_len_);
          auto last = payload.begin() + static_cast<long>(std::min(payload.size(), (i + 1) * array_len_));
          out["payload"] = nlohmann::json(std::vector<nlohmann::json>(first, last));
        }
        out["parts"] = {{"id", id}, {"index", i}, {"count", count}, {"type", "array"}, {"len", array_len_}};
        Send(std::move(out));
      }
    } else if (payload.is_object()) {
      size_t i = 0;
      for (auto it = payload.begin(); it != payload.end(); ++it, ++i) {
        Msg out = msg;
        out["_msgid"] = runtime::NewMessageId();
        out["payload"] = it.value();
        if (!addname_.empty()) runtime::PropertyPath::Parse(addname_).map([&](const runtime::PropertyPath& p) { p.Set(out, it.key()); });
        out["parts"] = {{"id", id}, {"index", i}, {"count", payload.size()}, {"type", "object"}, {"key", it.key()}};
        Send(std::move(out));
      }
    } else {
      msg["payload"] = std::move(payload);
      Send(std::move(msg));  // Node-RED passes other types through
    }
  }

 private:
  std::string separator_ = "\n";
  size_t string_len_ = 0;
  size_t array_len_ = 1;
  std::string addname_;
};

}  // namespace

NodePtr MakeSplitNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<SplitNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
