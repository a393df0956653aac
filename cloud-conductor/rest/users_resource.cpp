// /v1/users: admins manage users. A user may also read its own record.
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/rest/validation.hpp"
#include "cloud-conductor/auth/role.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "edgewire/v1/api.pb.h"

namespace ew::rest {

const ew::log::Logger Log{"rest"};

namespace {

Result<server::HttpResponse> ListUsers(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(RequireAdmin(exchange.principal));
  auto filter = exchange.request.query.find("project");
  EW_TRY(auto page, PageOf(exchange));
  EW_TRY(auto users, deps.store.ListUsers(filter == exchange.request.query.end() ? "" : filter->second, page));
  edgewire::v1::ListUsersResponse response;
  for (auto& user : users.items) *response.add_users() = std::move(user);
  return PagedResponse(response, users.next_cursor);
}

// Everything about the request that does not need the store.
Result<edgewire::v1::CreateUserRequest> ParseCreateUser(const std::string& body) {
  edgewire::v1::CreateUserRequest request;
  EW_TRY_VOID(ParseBody(body, &request));
  EW_TRY_VOID(CheckName("name", request.name()));
  EW_TRY_VOID(CheckPassword(request.password()));
  if (request.role().empty()) request.set_role(auth::RoleName(auth::Role::kOperator));
  EW_TRY_VOID(CheckRole(request.role()));
  if (request.project_id().empty()) return InvalidArgument("projectId is required");
  return request;
}

// On the hash pool: PBKDF2 of the new password, then the store.
Result<server::HttpResponse> StoreUser(const RestDeps& deps, const edgewire::v1::CreateUserRequest& request,
                                       const std::string& admin) {
  edgewire::v1::User user;
  user.set_id(ids::NewId("usr"));
  user.set_name(request.name());
  user.set_project_id(request.project_id());
  user.set_role(request.role());
  user.set_created_at(UnixSeconds(deps.clock.Now()));
  EW_TRY_VOID(deps.store.CreateUser(user, ids::HashPassword(request.password())));
  Log()->info("user {} ({}, {}) created in project {} by {}", user.name(), user.id(), user.role(),
                         user.project_id(), admin);
  return JsonResponse(201, user);
}

void CreateUser(const RestDeps& deps, Exchange exchange) {
  auto checked = [&]() -> Result<edgewire::v1::CreateUserRequest> {
    EW_TRY_VOID(RequireAdmin(exchange.principal));
    EW_TRY(auto request, ParseCreateUser(exchange.request.body));
    auto project = deps.store.GetProject(request.project_id());
    if (!project) {
      if (project.error().code == ErrorCode::kNotFound)
        return InvalidArgument("project " + request.project_id() + " does not exist");
      return tl::unexpected(project.error());
    }
    return request;
  }();
  if (!checked) return exchange.Reply(ErrorResponse(checked.error()));
  AnswerOnHashPool(deps, std::move(exchange), [&deps, request = std::move(*checked)](const Exchange& e) {
    return StoreUser(deps, request, e.principal.name);
  });
}

Result<server::HttpResponse> GetUser(const RestDeps& deps, const Exchange& exchange) {
  const std::string& id = exchange.Param("id");
  if (id != exchange.principal.user_id) EW_TRY_VOID(RequireAdmin(exchange.principal));
  EW_TRY(auto user, deps.store.GetUser(id));
  return JsonResponse(200, user);
}

Result<server::HttpResponse> DeleteUser(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(RequireAdmin(exchange.principal));
  const std::string& id = exchange.Param("id");
  // Keeps at least the admin who asks, so that a conductor never locks its operators out.
  if (id == exchange.principal.user_id) return Conflict("you cannot delete your own user");
  EW_TRY_VOID(deps.auth.DeleteUser(id));  // its tokens verify no more
  Log()->info("user {} deleted by {}", id, exchange.principal.name);
  if (deps.revocations) {
    // Its tokens went with it (store); its live WAMP sessions and event streams go now.
    auth::Revocation revoked;
    revoked.kind = auth::Revocation::Kind::kUser;
    revoked.id = id;
    revoked.message = "the user was deleted";
    deps.revocations->Revoke(revoked);
  }
  return NoContent();
}

}  // namespace

void AddUserRoutes(RouteTable& routes, const RestDeps& deps) {
  routes.Add({"GET", "/v1/users", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return ListUsers(deps, e); })});
  routes.Add({"POST", "/v1/users", Access::kToken, Execution::kBlocking,
              [&deps](Exchange e) { CreateUser(deps, std::move(e)); }});
  routes.Add({"GET", "/v1/users/{id}", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return GetUser(deps, e); })});
  routes.Add({"DELETE", "/v1/users/{id}", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return DeleteUser(deps, e); })});
}

}  // namespace ew::rest
