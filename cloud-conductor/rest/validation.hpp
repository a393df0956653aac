// Input rules shared by the REST resources. Each check returns InvalidArgument naming the field,
// so a handler validates everything before it touches the store.
#pragma once

#include <string>

#include <google/protobuf/map.h>

#include "common/error/error.hpp"

namespace ew::rest {

// Names of projects, users and boards: [a-z0-9][a-z0-9_.-]{0,62}.
bool IsValidName(const std::string& name);
Result<void> CheckName(const std::string& field, const std::string& name);
// Passwords: 8 to 1024 characters.
Result<void> CheckPassword(const std::string& password);
// "admin" or "operator".
Result<void> CheckRole(const std::string& role);
// Board procedures: dotted [a-z0-9_]+ components, "sys.ping".
bool IsValidProcedure(const std::string& procedure);
// Board labels: keys like names (up to 63 characters), values up to 256 characters.
Result<void> CheckLabels(const google::protobuf::Map<std::string, std::string>& labels);

}  // namespace ew::rest
