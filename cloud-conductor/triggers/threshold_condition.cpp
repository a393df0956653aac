#include "cloud-conductor/triggers/threshold_condition.hpp"

#include <array>
#include <cmath>
#include <utility>

namespace ew::conductor::triggers {

namespace {

constexpr size_t kMaxFieldBytes = 128;
constexpr size_t kMaxPathParts = 8;

constexpr std::array<std::pair<const char*, ThresholdCondition::Op>, 6> kOps = {{
    {">", ThresholdCondition::Op::kGreater},
    {">=", ThresholdCondition::Op::kGreaterOrEqual},
    {"<", ThresholdCondition::Op::kLess},
    {"<=", ThresholdCondition::Op::kLessOrEqual},
    {"==", ThresholdCondition::Op::kEqual},
    {"!=", ThresholdCondition::Op::kNotEqual},
}};

const char* OpName(ThresholdCondition::Op op) {
  for (const auto& [name, value] : kOps)
    if (value == op) return name;
  return ">";
}

template <typename T>
bool Compare(ThresholdCondition::Op op, const T& a, const T& b) {
  switch (op) {
    case ThresholdCondition::Op::kGreater: return a > b;
    case ThresholdCondition::Op::kGreaterOrEqual: return a >= b;
    case ThresholdCondition::Op::kLess: return a < b;
    case ThresholdCondition::Op::kLessOrEqual: return a <= b;
    case ThresholdCondition::Op::kEqual: return a == b;
    case ThresholdCondition::Op::kNotEqual: return a != b;
  }
  return false;
}

}  // namespace

Result<ThresholdCondition> ThresholdCondition::Parse(const nlohmann::json& json) {
  if (!json.is_object()) return InvalidArgument("condition: must be an object {\"field\", \"op\", \"value\"}");
  for (const auto& [key, unused] : json.items()) {
    if (key != "field" && key != "op" && key != "value")
      return InvalidArgument("condition: unknown member \"" + key.substr(0, 64) + "\" (field, op, value)");
  }
  ThresholdCondition c;
  auto field = json.find("field");
  if (field == json.end() || !field->is_string() || field->get_ref<const std::string&>().empty() ||
      field->get_ref<const std::string&>().size() > kMaxFieldBytes)
    return InvalidArgument("condition.field: required, a member name or dotted path of at most 128 bytes");
  c.field_ = field->get<std::string>();
  size_t start = 0;
  while (true) {
    const size_t dot = c.field_.find('.', start);
    std::string part = c.field_.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) return InvalidArgument("condition.field: an empty part in \"" + c.field_ + "\"");
    c.path_.push_back(std::move(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (c.path_.size() > kMaxPathParts) return InvalidArgument("condition.field: at most 8 dotted parts");
  auto op = json.find("op");
  if (op == json.end() || !op->is_string()) return InvalidArgument("condition.op: required, one of > >= < <= == !=");
  bool known = false;
  for (const auto& [name, value] : kOps) {
    if (*op == name) c.op_ = value, known = true;
  }
  if (!known) return InvalidArgument("condition.op: must be one of > >= < <= == !=");
  auto value = json.find("value");
  if (value == json.end()) return InvalidArgument("condition.value: required");
  const bool equality = c.op_ == Op::kEqual || c.op_ == Op::kNotEqual;
  if (value->is_number()) {
    c.value_ = value->get<double>();
  } else if (equality && (value->is_boolean() || (value->is_string() && value->get_ref<const std::string&>().size() <= 256))) {
    c.value_ = *value;
  } else {
    return InvalidArgument(equality ? "condition.value: must be a number, a boolean or a string of at most 256 bytes"
                                    : "condition.value: must be a number for " + std::string(OpName(c.op_)));
  }
  return c;
}

bool ThresholdCondition::Matches(const nlohmann::json& event) const {
  const nlohmann::json* at = &event;
  for (const auto& part : path_) {
    if (!at->is_object()) return false;
    auto it = at->find(part);
    if (it == at->end()) return false;
    at = &*it;
  }
  if (value_.is_number()) {
    // Numbers compare as numbers (30 == 30.0); booleans and strings are not numbers.
    if (!at->is_number()) return false;
    return Compare(op_, at->get<double>(), value_.get<double>());
  }
  if (at->type() != value_.type()) return op_ == Op::kNotEqual;
  return Compare(op_ == Op::kEqual ? Op::kEqual : Op::kNotEqual, *at, value_);
}

nlohmann::json ThresholdCondition::ToJson() const {
  nlohmann::json value = value_;
  // 30 stays 30 in the answer, not 30.0. The range is checked before the cast: a double
  // outside int64_t's converts to undefined behaviour (1e300 is a valid threshold).
  if (value.is_number_float()) {
    const double v = value.get<double>();
    if (std::abs(v) < 1e15 && v == static_cast<double>(static_cast<int64_t>(v))) value = static_cast<int64_t>(v);
  }
  return {{"field", field_}, {"op", OpName(op_)}, {"value", value}};
}

}  // namespace ew::conductor::triggers
