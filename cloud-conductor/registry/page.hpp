// Paged lists: every list the REST API answers is read one page at a time, with the page's
// limit and position pushed into the SQL (keyset paging: `WHERE key > last key ORDER BY key
// LIMIT n+1`), so that no answer and no store read grows with the table. The position is the
// sort key of the last record returned, handed to clients as an opaque cursor. Every paged query
// of every store starts the same way: StartPage, then PageStart::BindAfter and fetch_limit.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <SQLiteCpp/Statement.h>

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

// How the fields of a list's sort key are compared in SQL: as text, or as integers (times, rowids).
enum class CursorFields { kText, kIntegers };

// Where a keyset page starts: nothing (the first page) or the sort key of the last record of the
// previous page, decoded from the request's cursor. Made by StartPage.
class PageStart {
 public:
  bool is_first() const { return !later_; }
  size_t limit() const { return limit_; }
  // The query's LIMIT: one row more than the page tells whether there is a next one.
  int64_t fetch_limit() const { return static_cast<int64_t>(limit_) + 1; }
  // Binds the parameters of a keyset condition written `(? = 0 OR (k1, k2) > (?, ?))` from
  // `index` on: 1 for a later page (0 for the first), then each field of the position ('' or 0
  // on the first page). Returns the index after them.
  int BindAfter(SQLite::Statement& query, int index) const;
  // The decoded fields (empty on the first page).
  const std::vector<std::string>& text() const { return text_; }
  const std::vector<int64_t>& integers() const { return integers_; }

 private:
  friend Result<PageStart> StartPage(const PageRequest&, size_t, CursorFields, size_t);
  bool later_ = false;
  size_t limit_ = kDefaultPageLimit;
  size_t fields_ = 0;
  CursorFields kind_ = CursorFields::kText;
  std::vector<std::string> text_;
  std::vector<int64_t> integers_;
};

// The start of the page `page` asks for, in a list sorted by `fields` fields of `kind`:
// InvalidArgument unless 1 <= limit <= max_limit and the cursor is empty or one of this list's.
Result<PageStart> StartPage(const PageRequest& page, size_t fields, CursorFields kind = CursorFields::kText,
                            size_t max_limit = kMaxPageLimit);

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
