// The `fleet` commands: one REST call each, after resolving names to ids.
#include "cloud-conductor/cli/fleet_commands.hpp"

#include <ostream>

#include "cloud-conductor/cli/board_names.hpp"
#include "cloud-conductor/cli/function_format.hpp"
#include "cloud-conductor/cli/paged_list.hpp"

namespace ew::cli {

namespace {

std::string FleetPath(const nlohmann::json& fleet) { return "/v1/fleets/" + PathSegment(JsonString(fleet, "id")); }

// Adds or removes boards, then prints what changed (or the fleet as it is now, with --json).
Result<void> ChangeMembers(Context& ctx, const std::string& text, const std::vector<std::string>& boards,
                           bool add) {
  EW_TRY(nlohmann::json fleet, LookUpFleet(ctx, text));
  const BoardNames names = BoardNames::Load(ctx);
  EW_TRY(std::vector<std::string> ids, names.Ids(boards));
  const auto labels = names.Labels();
  for (const auto& id : ids) {
    EW_TRY_VOID(ctx.Call(add ? "PUT" : "DELETE", FleetPath(fleet) + "/boards/" + PathSegment(id)));
    if (ctx.options().json) continue;
    auto label = labels.find(id);
    ctx.out() << (add ? "added " : "removed ") << id << (label != labels.end() ? " (" + label->second + ")" : "")
              << (add ? " to fleet " : " from fleet ") << JsonString(fleet, "name") << "\n";
  }
  if (ctx.options().json) {
    EW_TRY(auto answer, ctx.CallRaw("GET", FleetPath(fleet)));
    PrintedRaw(ctx, answer.second);
  }
  return Ok();
}

}  // namespace

Result<nlohmann::json> LookUpFleet(Context& ctx, const std::string& text) {
  auto direct = ctx.Call("GET", "/v1/fleets/" + PathSegment(text));
  if (direct) return std::move(*direct);
  const ErrorCode code = direct.error().code;
  if (code != ErrorCode::kNotFound && code != ErrorCode::kInvalidArgument) return tl::unexpected(direct.error());
  EW_TRY(nlohmann::json listing, GetAllPages(ctx, "/v1/fleets", "fleets"));
  std::vector<nlohmann::json> named;
  for (const auto& fleet : listing.value("fleets", nlohmann::json::array()))
    if (JsonString(fleet, "name") == text) named.push_back(fleet);
  if (named.empty()) return NotFound("no fleet with the id or name " + text);
  if (named.size() > 1) {
    std::string ids;
    for (const auto& fleet : named) ids += (ids.empty() ? "" : ", ") + JsonString(fleet, "id");
    return InvalidArgument("several fleets are named " + text + " (" + ids + "): give the fleet id");
  }
  return named.front();
}

Result<void> FleetCreate(Context& ctx, const std::string& name) {
  EW_TRY(auto answer, ctx.CallRaw("POST", "/v1/fleets", {{"name", name}}));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << "fleet " << name << " created: " << JsonString(answer.first, "id") << "\n";
  return Ok();
}

Result<void> FleetList(Context& ctx) {
  EW_TRY(auto listing, GetAllPages(ctx, "/v1/fleets", "fleets"));
  if (PrintedListing(ctx, listing)) return Ok();
  ctx.out() << RenderFleetTable(listing["fleets"]);
  return Ok();
}

Result<void> FleetShow(Context& ctx, const std::string& fleet) {
  EW_TRY(nlohmann::json found, LookUpFleet(ctx, fleet));
  if (ctx.options().json) {
    ctx.out() << found.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return Ok();
  }
  ctx.out() << RenderFleet(found, BoardNames::Load(ctx).Labels());
  return Ok();
}

Result<void> FleetDelete(Context& ctx, const std::string& fleet) {
  EW_TRY(nlohmann::json found, LookUpFleet(ctx, fleet));
  EW_TRY_VOID(ctx.Call("DELETE", FleetPath(found)));
  if (!ctx.options().json) ctx.out() << "fleet " << JsonString(found, "name") << " deleted\n";
  return Ok();
}

Result<void> FleetAddBoards(Context& ctx, const std::string& fleet, const std::vector<std::string>& boards) {
  return ChangeMembers(ctx, fleet, boards, /*add=*/true);
}

Result<void> FleetRemoveBoards(Context& ctx, const std::string& fleet, const std::vector<std::string>& boards) {
  return ChangeMembers(ctx, fleet, boards, /*add=*/false);
}

}  // namespace ew::cli
