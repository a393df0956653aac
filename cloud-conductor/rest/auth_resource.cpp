// /v1/auth: log in (token from name + password), log out (revoke the token used), who am I.
#include <chrono>

#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "edgewire/v1/api.pb.h"

namespace ew::rest {

namespace {

Result<server::HttpResponse> CreateToken(const RestDeps& deps, const Exchange& exchange) {
  edgewire::v1::CreateTokenRequest request;
  EW_TRY_VOID(ParseBody(exchange.request.body, &request));
  if (request.username().empty()) return InvalidArgument("username is required");
  if (request.password().empty()) return InvalidArgument("password is required");
  EW_TRY(auto issued, deps.auth.IssueToken(request.username(), request.password(),
                                           std::chrono::seconds(request.ttl_seconds())));
  edgewire::v1::CreateTokenResponse response;
  response.set_token(issued.token);
  response.set_expires_at(issued.record.expires_at());
  *response.mutable_user() = std::move(issued.user);
  return JsonResponse(201, response);
}

Result<server::HttpResponse> RevokeCurrentToken(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(deps.auth.RevokeToken(exchange.token));
  return NoContent();
}

server::HttpResponse WhoAmI(const Exchange& exchange) {
  const auth::Principal& who = exchange.principal;
  return JsonResponse(200, nlohmann::json{{"userId", who.user_id},
                                          {"name", who.name},
                                          {"projectId", who.project_id},
                                          {"role", who.role}});
}

}  // namespace

void AddAuthRoutes(RouteTable& routes, const RestDeps& deps) {
  routes.Add({"POST", "/v1/auth/tokens", Access::kPublic, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return CreateToken(deps, e); })});
  routes.Add({"DELETE", "/v1/auth/tokens/current", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return RevokeCurrentToken(deps, e); })});
  routes.Add({"GET", "/v1/auth/whoami", Access::kToken, Execution::kBlocking,
              Answer([](const Exchange& e) -> Result<server::HttpResponse> { return WhoAmI(e); })});
}

}  // namespace ew::rest
