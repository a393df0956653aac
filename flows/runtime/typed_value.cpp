#include "flows/runtime/typed_value.hpp"

#include "common/json/guarded_json.hpp"
#include "flows/runtime/flow_runtime.hpp"

namespace ew::flows::runtime {

std::string ContextKey(const std::string& key) {
  if (key.rfind("#:(", 0) == 0) {
    auto end = key.find(")::");
    if (end != std::string::npos) return key.substr(end + 3);
  }
  return key;
}

Result<TypedValue> TypedValue::Parse(const nlohmann::json& value, const std::string& type, const std::string& what) {
  TypedValue v;
  v.type_ = type.empty() ? "str" : type;
  const std::string text = value.is_string() ? value.get<std::string>() : value.is_null() ? "" : value.dump();
  if (v.type_ == "str" || v.type_ == "re") {
    v.literal_ = value.is_string() ? value : nlohmann::json(text);
  } else if (v.type_ == "num") {
    auto n = ToNumber(value.is_null() ? nlohmann::json("") : value);
    if (!n) return InvalidArgument(what + ": \"" + text + "\" is not a number");
    v.literal_ = NumberJson(*n);
  } else if (v.type_ == "bool") {
    v.literal_ = value.is_boolean() ? value.get<bool>() : text == "true";
  } else if (v.type_ == "json") {
    if (!value.is_string()) {
      v.literal_ = value;
    } else {
      json::ParseLimits limits;
      limits.what = "JSON value";
      auto parsed = json::Parse(text, limits);
      if (!parsed) return InvalidArgument(what + ": " + parsed.error().message);
      v.literal_ = std::move(*parsed);
    }
  } else if (v.type_ == "bin") {
    // Buffers are carried as arrays of bytes (a JSON message has no Buffer type).
    auto parsed = json::Parse(text.empty() ? "[]" : text);
    if (!parsed || !parsed->is_array()) return InvalidArgument(what + ": a buffer must be a JSON array of bytes");
    v.literal_ = std::move(*parsed);
  } else if (v.type_ == "date") {
    v.kind_ = Kind::kDate;
  } else if (v.type_ == "env") {
    v.kind_ = Kind::kEnv;
    v.env_ = text;
  } else if (v.type_ == "msg" || v.type_ == "flow" || v.type_ == "global") {
    v.kind_ = v.type_ == "msg" ? Kind::kMsg : v.type_ == "flow" ? Kind::kFlow : Kind::kGlobal;
    EW_TRY(v.path_, PropertyPath::Parse(v.kind_ == Kind::kMsg ? text : ContextKey(text)));
  } else if (v.type_ == "jsonata") {
    return InvalidArgument(what + ": JSONata expressions are not supported on boards");
  } else {
    return InvalidArgument(what + ": value type \"" + v.type_ + "\" is not supported on boards");
  }
  return v;
}

nlohmann::json TypedValue::Evaluate(const Msg& msg, FlowRuntime& runtime, const flows::Node& node) const {
  switch (kind_) {
    case Kind::kLiteral:
      return literal_;
    case Kind::kDate:
      return std::chrono::duration_cast<std::chrono::milliseconds>(runtime.clock().Now().time_since_epoch()).count();
    case Kind::kEnv:
      return ExpandEnv(env_, runtime, node);
    case Kind::kMsg: {
      const auto* v = path_.Get(msg);
      return v ? *v : nlohmann::json();
    }
    case Kind::kFlow: {
      const auto* v = path_.Get(runtime.FlowContext(node.tab));
      return v ? *v : nlohmann::json();
    }
    case Kind::kGlobal: {
      const auto* v = path_.Get(runtime.GlobalContext());
      return v ? *v : nlohmann::json();
    }
  }
  return nullptr;
}

nlohmann::json ExpandEnv(const std::string& text, FlowRuntime& runtime, const flows::Node& node) {
  if (text.find("${") == std::string::npos) {
    auto v = runtime.Env(node, text);
    return v ? *v : nlohmann::json("");
  }
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = text.find("${", i);
    if (start == std::string::npos) {
      out += text.substr(i);
      break;
    }
    size_t end = text.find('}', start);
    if (end == std::string::npos) {
      out += text.substr(i);
      break;
    }
    out += text.substr(i, start - i);
    auto v = runtime.Env(node, text.substr(start + 2, end - start - 2));
    if (v) out += ToJsString(*v);
    i = end + 1;
  }
  return out;
}

}  // namespace ew::flows::runtime
