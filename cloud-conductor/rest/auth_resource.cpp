// /v1/auth: log in (token from name + password), log out (revoke the token used), who am I.
// Logins are limited per source address, per user name from that address and (paced) per user
// name from anywhere (429 + Retry-After), attempts in flight included, and hash the
// password on the HashPool; a revoked token ends the sessions and streams it opened.
#include <chrono>

#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "common/log/log.hpp"
#include "edgewire/v1/api.pb.h"

namespace ew::rest {

const ew::log::Logger Log{"rest"};
namespace {

// Longer names cannot exist (validation.cpp allows 63 bytes): refused before any work.
constexpr size_t kMaxUsernameBytes = 63;
// Passwords longer than this are refused before hashing them.
constexpr size_t kMaxPasswordBytes = 1024;

Result<edgewire::v1::CreateTokenRequest> ParseLogin(const std::string& body) {
  edgewire::v1::CreateTokenRequest request;
  EW_TRY_VOID(ParseBody(body, &request));
  if (request.username().empty()) return InvalidArgument("username is required");
  if (request.password().empty()) return InvalidArgument("password is required");
  if (request.username().size() > kMaxUsernameBytes)
    return InvalidArgument("username is longer than " + std::to_string(kMaxUsernameBytes) + " bytes");
  if (request.password().size() > kMaxPasswordBytes)
    return InvalidArgument("password is longer than " + std::to_string(kMaxPasswordBytes) + " bytes");
  return request;
}

// A user name as a JSON string: quoted, control characters escaped (no forged log lines).
std::string Quoted(const std::string& name) {
  return nlohmann::json(name).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

server::HttpResponse TooManyAttempts(std::chrono::seconds wait) {
  server::HttpResponse response = ErrorResponse(
      Error{ErrorCode::kResourceExhausted, "too many failed or concurrent logins for this user or from this address; retry in " +
                                               std::to_string(wait.count()) + " s"});
  response.headers.emplace_back("Retry-After", std::to_string(wait.count()));
  return response;
}

// On the hash pool: PBKDF2, then the token; the limiter's attempt hears how it went (dropped
// unfinished, as when the hash pool is full, it only gives its slot back).
Result<server::HttpResponse> IssueToken(const RestDeps& deps, const edgewire::v1::CreateTokenRequest& request,
                                        const std::string& address, auth::LoginLimiter::Attempt* attempt) {
  auto issued =
      deps.auth.IssueToken(request.username(), request.password(), std::chrono::seconds(request.ttl_seconds()));
  if (!issued) {
    if (issued.error().code == ErrorCode::kUnauthenticated && attempt) {
      attempt->Failed();
      Log()->info("failed login for user {} from {}", Quoted(request.username()), address);
    }
    return tl::unexpected(issued.error());
  }
  if (attempt) attempt->Succeeded();
  edgewire::v1::CreateTokenResponse response;
  response.set_token(issued->token);
  response.set_expires_at(issued->record.expires_at());
  *response.mutable_user() = std::move(issued->user);
  return JsonResponse(201, response);
}

void CreateToken(const RestDeps& deps, Exchange exchange) {
  auto request = ParseLogin(exchange.request.body);
  if (!request) return exchange.Reply(ErrorResponse(request.error()));
  const std::string address = auth::LoginLimiter::AddressOf(exchange.request.peer);
  // Shared: the hash pool's job is a copyable std::function.
  std::shared_ptr<auth::LoginLimiter::Attempt> attempt;
  if (deps.login_limiter) {
    // Refused before the hash pool: a flood of refused attempts costs no PBKDF2. Attempts in
    // flight count, so a burst of concurrent guesses cannot pass before the first one fails.
    auto admission = deps.login_limiter->Begin(request->username(), address);
    if (!admission.attempt) {
      Log()->info("login for user {} from {} refused for {} s: too many failures or attempts in flight",
                             Quoted(request->username()), address, admission.retry_after.count());
      return exchange.Reply(TooManyAttempts(admission.retry_after));
    }
    attempt = std::move(admission.attempt);
  }
  AnswerOnHashPool(deps, std::move(exchange),
                   [&deps, request = std::move(*request), address, attempt = std::move(attempt)](const Exchange&) {
                     return IssueToken(deps, request, address, attempt.get());
                   });
}

Result<server::HttpResponse> RevokeCurrentToken(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(std::string token_id, deps.auth.RevokeToken(exchange.token));
  if (deps.revocations) {
    auth::Revocation revoked;
    revoked.kind = auth::Revocation::Kind::kToken;
    revoked.id = token_id;
    revoked.message = "the API token was revoked";
    deps.revocations->Revoke(revoked);
  }
  return NoContent();
}

server::HttpResponse WhoAmI(const Exchange& exchange) {
  const auth::Principal& who = exchange.principal;
  return JsonResponse(200, nlohmann::json{{"userId", who.user_id},
                                          {"name", who.name},
                                          {"projectId", who.project_id},
                                          {"role", auth::RoleName(who.role)}});
}

}  // namespace

void AddAuthRoutes(RouteTable& routes, const RestDeps& deps) {
  routes.Add({"POST", "/v1/auth/tokens", Access::kPublic, Execution::kBlocking,
              [&deps](Exchange e) { CreateToken(deps, std::move(e)); }});
  routes.Add({"DELETE", "/v1/auth/tokens/current", Access::kToken, Execution::kBlocking,
              Answer([&deps](const Exchange& e) { return RevokeCurrentToken(deps, e); })});
  routes.Add({"GET", "/v1/auth/whoami", Access::kToken, Execution::kBlocking,
              Answer([](const Exchange& e) -> Result<server::HttpResponse> { return WhoAmI(e); })});
}

}  // namespace ew::rest
