// The optional condition of an MQTT trigger: fire only when a field of the JSON payload compares
// true with a value, as an alarm "temperature above 30" ({"field": "temperature", "op": ">",
// "value": 30}). Immutable after Parse; safe to share between threads.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::conductor::triggers {

class ThresholdCondition {
 public:
  enum class Op { kGreater, kGreaterOrEqual, kLess, kLessOrEqual, kEqual, kNotEqual };

  // {"field", "op", "value"}: field a member name, or a dotted path into nested objects
  // ("reading.celsius"; at most 8 parts, 128 bytes); op one of > >= < <= == !=; value a number,
  // or for == and != also a string or a boolean. InvalidArgument naming the member otherwise.
  static Result<ThresholdCondition> Parse(const nlohmann::json& json);

  // Whether `event` holds the field and it compares true. A payload that is not an object, lacks
  // the field or holds another type there does not match (the message is not an alarm).
  bool Matches(const nlohmann::json& event) const;

  nlohmann::json ToJson() const;

 private:
  std::string field_;
  std::vector<std::string> path_;
  Op op_ = Op::kGreater;
  nlohmann::json value_;
};

}  // namespace ew::conductor::triggers
