// /v1/projects: admins create and delete projects and see all of them; an operator sees only
// its own.
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/rest/validation.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "edgewire/v1/api.pb.h"

namespace ew::rest {

const ew::log::Logger Log{"rest"};

namespace {

Result<server::HttpResponse> ListProjects(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto page, PageOf(exchange));
  edgewire::v1::ListProjectsResponse response;
  if (exchange.principal.is_admin()) {
    EW_TRY(auto projects, deps.store.ListProjects(page));
    for (auto& project : projects.items) *response.add_projects() = std::move(project);
    return PagedResponse(response, projects.next_cursor);
  } else {
    auto own = deps.store.GetProject(exchange.principal.project_id);
    if (own) {
      *response.add_projects() = std::move(*own);
    } else if (own.error().code != ErrorCode::kNotFound) {
      return tl::unexpected(own.error());
    }
  }
  return JsonResponse(200, response);
}

Result<server::HttpResponse> CreateProject(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(RequireAdmin(exchange.principal));
  edgewire::v1::CreateProjectRequest request;
  EW_TRY_VOID(ParseBody(exchange.request.body, &request));
  EW_TRY_VOID(CheckName("name", request.name()));
  edgewire::v1::Project project;
  project.set_id(ids::NewId("prj"));
  project.set_name(request.name());
  project.set_created_at(UnixSeconds(deps.clock.Now()));
  EW_TRY_VOID(deps.store.CreateProject(project));
  Log()->info("project {} ({}) created by {}", project.name(), project.id(), exchange.principal.name);
  return JsonResponse(201, project);
}

Result<server::HttpResponse> GetProject(const RestDeps& deps, const Exchange& exchange) {
  const std::string& id = exchange.Param("id");
  // Answered before the lookup so that an operator cannot probe which project ids exist.
  if (!auth::Authenticator::CanAccessProject(exchange.principal, id))
    return PermissionDenied("project " + id + " is not yours");
  EW_TRY(auto project, deps.store.GetProject(id));
  return JsonResponse(200, project);
}

Result<server::HttpResponse> DeleteProject(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(RequireAdmin(exchange.principal));
  const std::string& id = exchange.Param("id");
  EW_TRY_VOID(deps.store.DeleteProject(id));
  Log()->info("project {} deleted by {}", id, exchange.principal.name);
  return NoContent();
}

}  // namespace

void AddProjectRoutes(RouteTable& routes, const RestDeps& deps) {
  routes.Add({"GET", "/v1/projects", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return ListProjects(deps, e); })});
  routes.Add({"POST", "/v1/projects", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return CreateProject(deps, e); })});
  routes.Add({"GET", "/v1/projects/{id}", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return GetProject(deps, e); })});
  routes.Add({"DELETE", "/v1/projects/{id}", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return DeleteProject(deps, e); })});
}

}  // namespace ew::rest
