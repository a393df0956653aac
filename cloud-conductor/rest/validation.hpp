// Input rules shared by the REST resources. Each check returns InvalidArgument naming the field,
// so a handler validates everything before it touches the store.
#pragma once

#include <cstdint>
#include <string>

#include <google/protobuf/map.h>

#include "common/error/error.hpp"

namespace ew::rest {

// Names of projects, users and boards: [a-z0-9][a-z0-9_.-]{0,62}.
bool IsValidName(const std::string& name);
Result<void> CheckName(const std::string& field, const std::string& name);
// Passwords: 8 to 1024 characters.
Result<void> CheckPassword(const std::string& password);
// A user role's name (auth::ParseUserRole): "admin" or "operator".
Result<void> CheckRole(const std::string& role);
// Board procedures: dotted [a-z0-9_]+ components, "sys.ping".
bool IsValidProcedure(const std::string& procedure);
// Board labels: keys like names (up to 63 characters), values up to 256 characters.
Result<void> CheckLabels(const google::protobuf::Map<std::string, std::string>& labels);
// GPIO lines as the API names them: [A-Za-z0-9_:.-]{1,48} ("GPIO17", "17", "gpiochip1:5").
bool IsValidLineName(const std::string& line);
Result<void> CheckLineName(const std::string& field, const std::string& line);
// A point in time given as RFC 3339 with an offset ("2024-05-01T12:00:00Z",
// "2024-05-01T14:00:00.250+02:00") or as integer nanoseconds since the Unix epoch, between
// 1970 and 2262 → nanoseconds since the epoch (an offset's '+' may be a space: an unencoded '+'
// in a query string). InvalidArgument naming `field` otherwise.
Result<int64_t> ParseTimeNs(const std::string& field, const std::string& text);
// Nanoseconds since the epoch → RFC 3339 in UTC with nanoseconds, "2024-05-01T12:00:00.000000250Z".
std::string FormatTimeNs(int64_t ns);

}  // namespace ew::rest
