// Paged lists: every list the REST API answers is read one page at a time, with the page's
// limit and position pushed into the SQL (keyset paging: `WHERE key > last key ORDER BY key
// LIMIT n+1`), so that no answer and no store read grows with the table. The position is the
// sort key of the last record returned, handed to clients as an opaque cursor.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/error/error.hpp"

namespace ew::registry {

inline constexpr size_t kDefaultPageLimit = 100;  // records per page when the client does not say
inline constexpr size_t kMaxPageLimit = 1000;     // the most a client may ask for in one page
inline constexpr size_t kMaxCursorChars = 1024;   // longer is not a cursor this conductor gave

struct PageRequest {
  size_t limit = kDefaultPageLimit;  // 1 .. kMaxPageLimit
  std::string cursor;                // "" = the first page; else the next_cursor of the previous page
};

template <typename T>
struct Page {
  std::vector<T> items;     // in the list's order
  std::string next_cursor;  // "" when this is the last page
};

// The cursor for a position given by the fields of a sort key (base64url of the fields, so
// clients treat it as opaque). Fields must not contain '\x1f'.
std::string EncodeCursor(const std::vector<std::string>& key);
// The sort key in `cursor`: InvalidArgument ("cursor: ...") unless it decodes to exactly
// `fields` fields.
Result<std::vector<std::string>> DecodeCursor(const std::string& cursor, size_t fields);
// An integer field of a decoded cursor; InvalidArgument when it is not one.
Result<int64_t> CursorInteger(const std::string& field);
// InvalidArgument unless 1 <= limit <= kMaxPageLimit.
Result<void> CheckPageRequest(const PageRequest& page);

// Trims `rows` read with LIMIT limit+1 to the page and sets next_cursor from the last record
// kept (`key_of(record)` = its sort key) when there was one more.
template <typename T, typename KeyOf>
Page<T> MakePage(std::vector<T> rows, size_t limit, KeyOf key_of) {
  Page<T> page;
  const bool more = rows.size() > limit;
  if (more) rows.resize(limit);
  page.items = std::move(rows);
  if (more && !page.items.empty()) page.next_cursor = EncodeCursor(key_of(page.items.back()));
  return page;
}

}  // namespace ew::registry
