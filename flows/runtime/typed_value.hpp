// A Node-RED "typed input" (value + type, as the editor exports them: `to`/`tot`, `v`/`vt`,
// `payload`/`payloadType`), checked once at load and evaluated per message, as
// RED.util.evaluateNodeProperty does. Types: str, num, bool, json, bin, date, env, msg, flow,
// global, re. JSONata ("jsonata") is refused at load: the board runtime has no JSONata engine.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "flows/model/partition.hpp"
#include "flows/runtime/message.hpp"

namespace ew::flows::runtime {

class FlowRuntime;

class TypedValue {
 public:
  enum class Kind { kLiteral, kDate, kEnv, kMsg, kFlow, kGlobal };

  // `value` as exported (usually a string), `type` its type. InvalidArgument naming `what`
  // ("rule 1 to") for JSONata, bad JSON, a bad property path or an unknown type.
  static Result<TypedValue> Parse(const nlohmann::json& value, const std::string& type, const std::string& what);

  // The value for `msg`; null when a msg/flow/global property is missing.
  nlohmann::json Evaluate(const Msg& msg, FlowRuntime& runtime, const flows::Node& node) const;

  Kind kind() const { return kind_; }
  const std::string& type() const { return type_; }
  const PropertyPath& path() const { return path_; }
  const nlohmann::json& literal() const { return literal_; }

 private:
  Kind kind_ = Kind::kLiteral;
  std::string type_;
  nlohmann::json literal_;
  PropertyPath path_;
  std::string env_;
};

// Node-RED's env-type value: a name ("HOME") or a string with ${NAME} references.
nlohmann::json ExpandEnv(const std::string& text, FlowRuntime& runtime, const flows::Node& node);
// A flow/global context key without its "#:(store)::" prefix.
std::string ContextKey(const std::string& key);

}  // namespace ew::flows::runtime
