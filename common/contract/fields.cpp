#include "common/contract/fields.hpp"

namespace ew::contract {

using nlohmann::json;

bool IsCount(const json& value) {
  return value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0);
}

Result<Fields> Fields::Of(const json& kwargs, const char* what, std::initializer_list<const char*> allowed) {
  if (!kwargs.is_object()) return InvalidArgument(std::string(what) + ": keyword arguments must be an object");
  if (allowed.size() > 0) {
    for (const auto& [key, value] : kwargs.items()) {
      bool known = false;
      for (const char* name : allowed) known = known || key == name;
      if (!known) return InvalidArgument(std::string(what) + ": unknown argument \"" + key + "\"");
    }
  }
  return Fields(kwargs, what);
}

tl::unexpected<Error> Fields::Bad(const char* key, const std::string& why) const {
  return InvalidArgument(std::string(what_) + ": " + key + ": " + why);
}

const json* Fields::Find(const char* key) const {
  auto it = kwargs_->find(key);
  return it == kwargs_->end() ? nullptr : &*it;
}

Result<std::string> Fields::AnyString(const char* key) const {
  const json* value = Find(key);
  if (!value) return Bad(key, "required");
  if (!value->is_string()) return Bad(key, "must be a string");
  return value->get<std::string>();
}

Result<std::string> Fields::String(const char* key) const {
  EW_TRY(std::string value, AnyString(key));
  if (value.empty()) return Bad(key, "must be a non-empty string");
  return value;
}

Result<std::string> Fields::StringOr(const char* key, std::string fallback) const {
  if (!Has(key)) return fallback;
  return String(key);
}

Result<uint64_t> Fields::Count(const char* key) const {
  const json* value = Find(key);
  if (!value) return Bad(key, "required");
  if (!IsCount(*value)) return Bad(key, "must be a non-negative integer");
  return value->get<uint64_t>();
}

Result<int64_t> Fields::Int(const char* key) const {
  const json* value = Find(key);
  if (!value) return Bad(key, "required");
  if (!value->is_number_integer() || (value->is_number_unsigned() && value->get<uint64_t>() > INT64_MAX))
    return Bad(key, "must be an integer");
  return value->get<int64_t>();
}

Result<int64_t> Fields::IntOr(const char* key, int64_t fallback, int64_t min, int64_t max) const {
  const json* value = Find(key);
  if (!value) return fallback;
  if (!value->is_number_integer() || (value->is_number_unsigned() && value->get<uint64_t>() > INT64_MAX) ||
      value->get<int64_t>() < min || value->get<int64_t>() > max)
    return Bad(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  return value->get<int64_t>();
}

Result<bool> Fields::BoolOr(const char* key, bool fallback) const {
  const json* value = Find(key);
  if (!value) return fallback;
  if (!value->is_boolean()) return Bad(key, "must be true or false");
  return value->get<bool>();
}

Result<int> Fields::Level(const char* key) const {
  const json* value = Find(key);
  if (!value) return Bad(key, "required");
  if (value->is_boolean()) return value->get<bool>() ? 1 : 0;
  if (value->is_number_integer() && (value->get<int64_t>() == 0 || value->get<int64_t>() == 1))
    return static_cast<int>(value->get<int64_t>());
  return Bad(key, "must be 0 or 1");
}

Result<json> Fields::Array(const char* key) const {
  const json* value = Find(key);
  if (!value) return Bad(key, "required");
  if (!value->is_array()) return Bad(key, "must be an array");
  return *value;
}

Result<json> Fields::Object(const char* key) const {
  const json* value = Find(key);
  if (!value) return Bad(key, "required");
  if (!value->is_object()) return Bad(key, "must be an object");
  return *value;
}

}  // namespace ew::contract
