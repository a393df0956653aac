// Following nextCursor for the CLI's listings.
#include "cloud-conductor/cli/paged_list.hpp"

#include "cloud-conductor/cli/commands.hpp"

namespace ew::cli {

Result<nlohmann::json> GetAllPages(Context& ctx, const std::string& path, const std::string& key) {
  nlohmann::json items = nlohmann::json::array();
  std::string cursor;
  for (int pages = 0;; ++pages) {
    if (pages == kMaxPages) return Internal("the conductor answered more than " + std::to_string(kMaxPages) + " pages");
    const std::string target =
        cursor.empty() ? path : path + (path.find('?') == std::string::npos ? "?" : "&") + "cursor=" + PathSegment(cursor);
    EW_TRY(nlohmann::json page, ctx.Call("GET", target));
    if (page.is_object()) {
      auto listed = page.find(key);
      if (listed != page.end() && listed->is_array()) {
        for (auto& item : *listed) items.push_back(std::move(item));
      }
    }
    const std::string next = JsonString(page, "nextCursor");
    if (next.empty()) break;
    if (next == cursor) return Internal("the conductor answered the same page cursor twice");
    cursor = next;
  }
  return nlohmann::json{{key, std::move(items)}};
}

bool PrintedListing(Context& ctx, const nlohmann::json& listing) {
  if (!ctx.options().json) return false;
  ctx.out() << listing.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return true;
}

}  // namespace ew::cli
