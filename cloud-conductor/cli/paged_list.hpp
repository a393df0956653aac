// Lists that the API answers a page at a time (docs/REST.md, "Paging"): the CLI follows the
// cursors, so `board list`, `fn list` and the others still show everything.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::cli {

class Context;

// GETs `path` (which may carry a query already), then the same path with &cursor=<nextCursor>
// while an answer has one, and returns {key: every page's `key` items, in order} — the shape of
// one page without the cursor. The first error ends it. Internal when the conductor repeats a
// cursor or answers more than kMaxPages pages (a loop, not a list).
Result<nlohmann::json> GetAllPages(Context& ctx, const std::string& path, const std::string& key);

// With --json, prints `listing` (GetAllPages' answer) and returns true; else false.
bool PrintedListing(Context& ctx, const nlohmann::json& listing);

inline constexpr int kMaxPages = 100'000;

}  // namespace ew::cli
