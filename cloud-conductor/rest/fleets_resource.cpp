// /v1/fleets: named groups of boards of one project, the target of fleet-wide deployments. Fleets
// live in the registry (registry::Store), beside the boards they group.
#include <set>

#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/rest/validation.hpp"
#include "common/ids/ids.hpp"

namespace ew::rest {

namespace {

using nlohmann::json;

json FleetJson(const registry::Fleet& f) {
  return {{"id", f.id}, {"name", f.name}, {"projectId", f.project_id}, {"boardIds", f.board_ids}, {"createdAt", f.created_at}};
}

Result<registry::Fleet> AccessibleFleet(registry::Store& store, const auth::Principal& who, const std::string& id) {
  EW_TRY(auto fleet, store.GetFleet(id));
  if (!auth::Authenticator::CanAccessProject(who, fleet.project_id))
    return PermissionDenied("fleet " + id + " belongs to another project");
  return fleet;
}

Result<server::HttpResponse> Create(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(json body, ParseObject(exchange.request.body, {"name", "projectId"}));
  if (!body.contains("name") || !body["name"].is_string()) return InvalidArgument("name: required, a string");
  const std::string name = body["name"].get<std::string>();
  EW_TRY_VOID(CheckName("name", name));
  std::string project = exchange.principal.project_id;
  if (body.contains("projectId")) {
    if (!body["projectId"].is_string()) return InvalidArgument("projectId: must be a string");
    project = body["projectId"].get<std::string>();
  }
  if (!auth::Authenticator::CanAccessProject(exchange.principal, project))
    return PermissionDenied("project " + project + " is not yours");
  auto exists = deps.store.GetProject(project);
  if (!exists) return InvalidArgument("project " + project + " does not exist");
  registry::Fleet fleet{ids::NewId("flt"), project, name, UnixSeconds(deps.clock.Now()), {}};
  EW_TRY_VOID(deps.store.CreateFleet(fleet));
  return JsonResponse(201, FleetJson(fleet));
}

Result<server::HttpResponse> List(const RestDeps& deps, const Exchange& exchange) {
  const auth::Principal& who = exchange.principal;
  EW_TRY(auto page, PageOf(exchange));
  EW_TRY(auto fleets, deps.store.ListFleets(who.is_admin() ? "" : who.project_id, page));
  json out = json::array();
  for (const auto& f : fleets.items) out.push_back(FleetJson(f));
  return PagedResponse(json{{"fleets", out}}, fleets.next_cursor);
}

Result<server::HttpResponse> Show(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto fleet, AccessibleFleet(deps.store, exchange.principal, exchange.Param("id")));
  return JsonResponse(200, FleetJson(fleet));
}

Result<server::HttpResponse> Delete(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto fleet, AccessibleFleet(deps.store, exchange.principal, exchange.Param("id")));
  EW_TRY_VOID(deps.store.DeleteFleet(fleet.id));
  return NoContent();
}

Result<server::HttpResponse> AddBoard(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto fleet, AccessibleFleet(deps.store, exchange.principal, exchange.Param("id")));
  EW_TRY(auto board, AccessibleBoard(deps.store, exchange.principal, exchange.Param("boardId")));
  if (board.project_id() != fleet.project_id)
    return InvalidArgument("board " + board.id() + " is not in the fleet's project");
  EW_TRY_VOID(deps.store.AddFleetBoard(fleet.id, board.id()));
  EW_TRY(auto updated, deps.store.GetFleet(fleet.id));
  return JsonResponse(200, FleetJson(updated));
}

Result<server::HttpResponse> RemoveBoard(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto fleet, AccessibleFleet(deps.store, exchange.principal, exchange.Param("id")));
  EW_TRY_VOID(deps.store.RemoveFleetBoard(fleet.id, exchange.Param("boardId")));
  EW_TRY(auto updated, deps.store.GetFleet(fleet.id));
  return JsonResponse(200, FleetJson(updated));
}

}  // namespace

void AddFleetRoutes(RouteTable& routes, const RestDeps& deps) {
  auto add = [&](const char* method, const char* pattern, auto compute) {
    routes.Add({method, pattern, Access::kToken, Execution::kBlocking,
                Answer([&deps, compute](const Exchange& e) { return compute(deps, e); })});
  };
  add("POST", "/v1/fleets", Create);
  add("GET", "/v1/fleets", List);
  add("GET", "/v1/fleets/{id}", Show);
  add("DELETE", "/v1/fleets/{id}", Delete);
  add("PUT", "/v1/fleets/{id}/boards/{boardId}", AddBoard);
  add("DELETE", "/v1/fleets/{id}/boards/{boardId}", RemoveBoard);
}

}  // namespace ew::rest
