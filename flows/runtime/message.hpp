// Node-RED messages in C++: a msg is a nlohmann::json object. Property paths as Node-RED's
// RED.util.getMessageProperty/setMessageProperty read them ("payload.a[0]['b c']"), _msgid
// generation, and the JavaScript comparisons switch/rbe rely on (== and < with conversion).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::flows::runtime {

using Msg = nlohmann::json;

// One step of a property path: an object key or an array index.
using PathStep = std::variant<std::string, size_t>;

class PropertyPath {
 public:
  PropertyPath() = default;
  // "payload", "payload.a[0]", "a['b.c']"; a leading "msg." is allowed and ignored.
  // InvalidArgument naming the expression when it does not parse.
  static Result<PropertyPath> Parse(std::string_view expression);

  // The value at the path, or null when some step is missing.
  const nlohmann::json* Get(const nlohmann::json& root) const;
  // Sets the value, creating missing objects (and arrays for numeric steps) on the way. False when
  // a step crosses a value that is neither object nor array.
  bool Set(nlohmann::json& root, nlohmann::json value) const;
  // Removes the value; false when it was not there.
  bool Delete(nlohmann::json& root) const;

  const std::string& text() const { return text_; }
  bool empty() const { return steps_.empty(); }

 private:
  std::vector<PathStep> steps_;
  std::string text_;
};

// 16 lower-case hex digits, as RED.util.generateId.
std::string NewMessageId();
// A new message {_msgid: ...}.
Msg NewMessage();

// JavaScript `a == b` for JSON values (numbers vs numeric strings, booleans as 0/1, null).
bool LooseEquals(const nlohmann::json& a, const nlohmann::json& b);
// JavaScript relational comparison: -1, 0, 1, or nullopt when it is false both ways (NaN).
std::optional<int> LooseCompare(const nlohmann::json& a, const nlohmann::json& b);
// JavaScript Number(v): nullopt for NaN.
std::optional<double> ToNumber(const nlohmann::json& v);
// JavaScript String(v) for the values Node-RED puts in a string context.
std::string ToJsString(const nlohmann::json& v);
// JavaScript truthiness.
bool IsTruthy(const nlohmann::json& v);
// A number as JSON: integral values become integers (as JSON.stringify prints them).
nlohmann::json NumberJson(double value);

}  // namespace ew::flows::runtime
