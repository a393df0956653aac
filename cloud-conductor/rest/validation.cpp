// Character-class checks by hand rather than std::regex: tiny grammars, and no regex engine on
// a request path.
#include "cloud-conductor/rest/validation.hpp"

namespace ew::rest {

namespace {

constexpr size_t kMaxNameLength = 63;
constexpr size_t kMinPasswordLength = 8;
constexpr size_t kMaxPasswordLength = 1024;
constexpr size_t kMaxLabelValueLength = 256;
constexpr size_t kMaxProcedureLength = 255;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength || !IsLowerAlnum(name[0])) return false;
  for (char c : name) {
    if (!IsLowerAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

Result<void> CheckName(const std::string& field, const std::string& name) {
  if (name.empty()) return InvalidArgument(field + " is required");
  if (!IsValidName(name))
    return InvalidArgument(field + " \"" + name +
                           "\" is not valid: use 1 to 63 of a-z 0-9 _ . - starting with a letter or digit");
  return Ok();
}

Result<void> CheckPassword(const std::string& password) {
  if (password.size() < kMinPasswordLength) return InvalidArgument("password must have at least 8 characters");
  if (password.size() > kMaxPasswordLength) return InvalidArgument("password must have at most 1024 characters");
  return Ok();
}

Result<void> CheckRole(const std::string& role) {
  if (role == "admin" || role == "operator") return Ok();
  return InvalidArgument("role \"" + role + "\" is not valid: use \"admin\" or \"operator\"");
}

bool IsValidProcedure(const std::string& procedure) {
  if (procedure.empty() || procedure.size() > kMaxProcedureLength) return false;
  bool component_empty = true;
  for (char c : procedure) {
    if (c == '.') {
      if (component_empty) return false;
      component_empty = true;
    } else if (IsLowerAlnum(c) || c == '_') {
      component_empty = false;
    } else {
      return false;
    }
  }
  return !component_empty;
}

Result<void> CheckLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  for (const auto& [key, value] : labels) {
    if (!IsValidName(key))
      return InvalidArgument("label key \"" + key + "\" is not valid: use 1 to 63 of a-z 0-9 _ . -");
    if (value.size() > kMaxLabelValueLength)
      return InvalidArgument("label \"" + key + "\" has a value longer than 256 characters");
  }
  return Ok();
}

}  // namespace ew::rest
