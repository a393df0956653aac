// Character-class checks by hand rather than std::regex: tiny grammars, and no regex engine on
// a request path.
#include "cloud-conductor/rest/validation.hpp"

#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>

#include "cloud-conductor/auth/role.hpp"

namespace ew::rest {

namespace {

constexpr size_t kMaxNameLength = 63;
constexpr size_t kMinPasswordLength = 8;
constexpr size_t kMaxPasswordLength = 1024;
constexpr size_t kMaxLabelValueLength = 256;
constexpr size_t kMaxProcedureLength = 255;
constexpr size_t kMaxLineLength = 48;

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
  if (auth::ParseUserRole(role)) return Ok();
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

bool IsValidLineName(const std::string& line) {
  if (line.empty() || line.size() > kMaxLineLength) return false;
  for (char c : line) {
    const bool alnum = IsLowerAlnum(c) || (c >= 'A' && c <= 'Z');
    if (!alnum && c != '_' && c != ':' && c != '.' && c != '-') return false;
  }
  return true;
}

Result<void> CheckLineName(const std::string& field, const std::string& line) {
  if (line.empty()) return InvalidArgument(field + " is required: a GPIO line such as GPIO17");
  if (!IsValidLineName(line))
    return InvalidArgument(field + " \"" + line +
                           "\" is not a GPIO line: use 1 to 48 of A-Z a-z 0-9 _ : . -, like GPIO17, 17 or gpiochip1:5");
  return Ok();
}

namespace {

// `count` digits at text[*pos], advancing *pos; -1 when they are not there.
int Digits(const std::string& text, size_t* pos, size_t count) {
  if (*pos + count > text.size()) return -1;
  int value = 0;
  for (size_t i = 0; i < count; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  *pos += count;
  return value;
}

bool Expect(const std::string& text, size_t* pos, const char* one_of) {
  if (*pos >= text.size() || std::strchr(one_of, text[*pos]) == nullptr) return false;
  ++*pos;
  return true;
}

// RFC 3339 date-time with an offset → ns since the epoch; nullopt when malformed or out of range.
std::optional<int64_t> ParseRfc3339(const std::string& text) {
  size_t pos = 0;
  std::tm tm{};
  const int year = Digits(text, &pos, 4);
  if (year < 0 || !Expect(text, &pos, "-")) return std::nullopt;
  const int month = Digits(text, &pos, 2);
  if (month < 0 || !Expect(text, &pos, "-")) return std::nullopt;
  const int day = Digits(text, &pos, 2);
  if (day < 0 || !Expect(text, &pos, "Tt ")) return std::nullopt;
  const int hour = Digits(text, &pos, 2);
  if (hour < 0 || !Expect(text, &pos, ":")) return std::nullopt;
  const int minute = Digits(text, &pos, 2);
  if (minute < 0 || !Expect(text, &pos, ":")) return std::nullopt;
  const int second = Digits(text, &pos, 2);
  if (second < 0) return std::nullopt;
  int64_t fraction_ns = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100'000'000;
    const size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      fraction_ns += (text[pos] - '0') * scale;  // digits past nanoseconds are ignored
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int offset_minutes = 0;
  if (Expect(text, &pos, "Zz")) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-' || text[pos] == ' ')) {
    // A '+' in a query string that was not percent-encoded arrives as a space.
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    const int oh = Digits(text, &pos, 2);
    if (oh < 0 || oh > 23 || !Expect(text, &pos, ":")) return std::nullopt;
    const int om = Digits(text, &pos, 2);
    if (om < 0 || om > 59) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;  // a time without an offset is ambiguous
  }
  if (pos != text.size() || year < 1970 || year > 2262) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::tm wanted = tm;
  const time_t seconds = timegm(&tm);
  // timegm normalises (Feb 30 → Mar 2): a date that does not come back unchanged is invalid.
  if (tm.tm_year != wanted.tm_year || tm.tm_mon != wanted.tm_mon || tm.tm_mday != wanted.tm_mday ||
      tm.tm_hour != wanted.tm_hour || tm.tm_min != wanted.tm_min || tm.tm_sec != wanted.tm_sec)
    return std::nullopt;
  const __int128 ns = (static_cast<__int128>(seconds) - offset_minutes * 60) * 1'000'000'000 + fraction_ns;
  if (ns < 0 || ns > INT64_MAX) return std::nullopt;
  return static_cast<int64_t>(ns);
}

}  // namespace

Result<int64_t> ParseTimeNs(const std::string& field, const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 19 && text.find_first_not_of("0123456789") == std::string::npos;
  if (digits) {
    const unsigned long long ns = std::stoull(text);
    if (ns <= static_cast<unsigned long long>(INT64_MAX)) return static_cast<int64_t>(ns);
  } else if (auto ns = ParseRfc3339(text)) {
    return *ns;
  }
  return InvalidArgument(field + " \"" + text +
                         "\" is not a time: give RFC 3339 with an offset (2024-05-01T12:00:00Z) or nanoseconds "
                         "since the Unix epoch");
}

std::string FormatTimeNs(int64_t ns) {
  const time_t seconds = static_cast<time_t>(ns / 1'000'000'000);
  const int64_t fraction = ns % 1'000'000'000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(fraction));
  return text;
}

}  // namespace ew::rest
