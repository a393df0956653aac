// Type checks for WAMP options, shared by every handle_*.cpp.
#include "cloud-conductor/router/options.hpp"

#include "common/wamp/codec.hpp"

namespace ew::router {

namespace {

bool IsNonNegativeInteger(const wamp::Value& v, wamp::Id min) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() >= min && v.get<uint64_t>() <= wamp::kMaxId;
  if (v.is_number_integer()) return v.get<int64_t>() >= static_cast<int64_t>(min) &&
                                    static_cast<uint64_t>(v.get<int64_t>()) <= wamp::kMaxId;
  return false;
}

const char* TypeName(OptionType type) {
  switch (type) {
    case OptionType::kBool: return "a boolean";
    case OptionType::kString: return "a string";
    case OptionType::kObject: return "a dictionary";
    case OptionType::kNonNegativeInteger: return "a non-negative integer";
    case OptionType::kIdList: return "a list of ids in [1, 2^53]";
    case OptionType::kStringList: return "a list of strings";
  }
  return "?";
}

bool HasType(const wamp::Value& v, OptionType type) {
  switch (type) {
    case OptionType::kBool: return v.is_boolean();
    case OptionType::kString: return v.is_string();
    case OptionType::kObject: return v.is_object();
    case OptionType::kNonNegativeInteger: return IsNonNegativeInteger(v, 0);
    case OptionType::kIdList:
      if (!v.is_array()) return false;
      for (const auto& e : v)
        if (!IsNonNegativeInteger(e, 1)) return false;
      return true;
    case OptionType::kStringList:
      if (!v.is_array()) return false;
      for (const auto& e : v)
        if (!e.is_string()) return false;
      return true;
  }
  return false;
}

}  // namespace

Result<void> CheckOptions(const wamp::Value& options, const char* what, std::initializer_list<OptionSpec> specs) {
  if (!options.is_object()) return InvalidArgument(std::string(what) + ": options must be a dictionary");
  if (options.empty()) return Ok();  // the usual case; each find below makes a std::string key
  for (const auto& spec : specs) {
    auto it = options.find(spec.key);
    if (it == options.end() || it->is_null()) continue;
    if (it->is_array() && it->size() > kMaxOptionListEntries)
      return InvalidArgument(std::string(what) + " option " + spec.key + " lists more than " +
                             std::to_string(kMaxOptionListEntries) + " entries");
    if (!HasType(*it, spec.type))
      return InvalidArgument(std::string(what) + " option " + spec.key + " must be " + TypeName(spec.type));
  }
  return Ok();
}

}  // namespace ew::router
