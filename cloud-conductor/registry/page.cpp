// Cursor encoding: the sort key's fields joined by the unit separator, in base64url without
// padding. Opaque to clients, checked field by field when it comes back.
#include "cloud-conductor/registry/page.hpp"

#include <cstdint>

#include "common/ids/ids.hpp"

namespace ew::registry {

namespace {

constexpr char kSeparator = '\x1f';

tl::unexpected<Error> BadCursor() { return InvalidArgument("cursor: not a cursor of this list (start again without it)"); }

}  // namespace

std::string EncodeCursor(const std::vector<std::string>& key) {
  std::string joined;
  for (size_t i = 0; i < key.size(); ++i) {
    if (i > 0) joined += kSeparator;
    joined += key[i];
  }
  return ids::Base64Url(joined);
}

Result<std::vector<std::string>> DecodeCursor(const std::string& cursor, size_t fields) {
  if (cursor.empty() || cursor.size() > kMaxCursorChars) return BadCursor();
  std::string joined;
  if (!ids::Base64UrlDecode(cursor, &joined)) return BadCursor();
  std::vector<std::string> key;
  size_t start = 0;
  for (;;) {
    const size_t end = joined.find(kSeparator, start);
    key.push_back(joined.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (key.size() != fields) return BadCursor();
  return key;
}

Result<int64_t> CursorInteger(const std::string& field) {
  const bool negative = !field.empty() && field.front() == '-';
  const std::string digits = negative ? field.substr(1) : field;
  if (digits.empty() || digits.size() > 19 || digits.find_first_not_of("0123456789") != std::string::npos)
    return BadCursor();
  uint64_t value = 0;
  for (char c : digits) value = value * 10 + static_cast<uint64_t>(c - '0');  // 19 digits fit in 64 bits
  if (value > static_cast<uint64_t>(INT64_MAX)) return BadCursor();
  return negative ? -static_cast<int64_t>(value) : static_cast<int64_t>(value);
}

int PageStart::BindAfter(SQLite::Statement& query, int index) const {
  query.bind(index++, later_ ? 1 : 0);
  for (size_t i = 0; i < fields_; ++i) {
    if (kind_ == CursorFields::kIntegers) {
      query.bind(index++, later_ ? integers_[i] : int64_t{0});
    } else {
      query.bind(index++, later_ ? text_[i] : std::string());
    }
  }
  return index;
}

Result<PageStart> StartPage(const PageRequest& page, size_t fields, CursorFields kind, size_t max_limit) {
  if (page.limit < 1 || page.limit > max_limit)
    return InvalidArgument("limit must be from 1 to " + std::to_string(max_limit));
  PageStart start;
  start.limit_ = page.limit;
  start.fields_ = fields;
  start.kind_ = kind;
  if (page.cursor.empty()) return start;
  EW_TRY(start.text_, DecodeCursor(page.cursor, fields));
  if (kind == CursorFields::kIntegers) {
    for (const auto& field : start.text_) {
      EW_TRY(int64_t value, CursorInteger(field));
      start.integers_.push_back(value);
    }
  }
  start.later_ = true;
  return start;
}

}  // namespace ew::registry
