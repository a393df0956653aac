// Request flow: match the route (404/405), count it; for a request with a body, check the token
// on its headers before the body is read (Admit: on the io thread when the Authenticator
// verified it recently, else on the blocking pool); then check it again on the pool and run the
// resource's handler there (or inline for /healthz and /metrics).
#include "cloud-conductor/rest/rest_api.hpp"

#include <atomic>
#include <cctype>
#include <chrono>
#include <exception>
#include <memory>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cloud-conductor/rest/board_admin.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "common/log/log.hpp"

namespace ew::rest {

const ew::log::Logger Log{"rest"};

namespace {

const char kRequestsTotal[] = "ew_http_requests_total";
const char kRequestDuration[] = "ew_http_request_duration_seconds";

// The token from "X-Auth-Token: <t>" or "Authorization: Bearer <t>"; "" when neither is there.
template <typename Request>
std::string TokenOf(const Request& request) {
  const std::string& direct = request.Header("x-auth-token");
  if (!direct.empty()) return direct;
  const std::string& authorization = request.Header("authorization");
  const std::string scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return "";
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return "";
  }
  size_t start = authorization.find_first_not_of(' ', scheme.size());
  return start == std::string::npos ? "" : authorization.substr(start);
}

template <typename Request>
server::HttpResponse MethodNotAllowed(const Request& request, const std::vector<std::string>& allowed) {
  std::string allow = fmt::format("{}", fmt::join(allowed, ", "));
  server::HttpResponse response = ErrorResponse(
      Error{ErrorCode::kInvalidArgument, fmt::format("{} is not allowed on {} (allowed: {})", request.method,
                                                     request.path, allow)});
  response.status = 405;
  response.headers.emplace_back("Allow", allow);
  return response;
}

}  // namespace

RestApi::RestApi(RestDeps deps) : deps_(deps) {
  AddHealthRoutes(routes_, deps_);
  AddAuthRoutes(routes_, deps_);
  AddProjectRoutes(routes_, deps_);
  AddUserRoutes(routes_, deps_);
  AddBoardRoutes(routes_, deps_);
  AddBoardCallRoutes(routes_, deps_);
  AddEnrolRoutes(routes_, deps_);
  AddFunctionRoutes(routes_, deps_);
  AddFleetRoutes(routes_, deps_);
  AddGpioRoutes(routes_, deps_);
  AddFlowRoutes(routes_, deps_);
  AddTunnelRoutes(routes_, deps_);
  AddTriggerRoutes(routes_, deps_);
  AddBoardAdminRoutes(routes_, deps_);
  AddAgentUpdateRoutes(routes_, deps_);
}

void RestApi::Handle(server::HttpRequest request, server::Respond respond) {
  auto match = routes_.Find(request.method, request.path);
  Exchange exchange;
  exchange.respond = Instrument(match.pattern.empty() ? "unmatched" : match.pattern, std::move(respond));
  if (!match.route) {
    if (match.allowed.empty()) {
      exchange.Reply(ErrorResponse(Error{ErrorCode::kNotFound, "no such resource: " + request.path}));
    } else {
      exchange.Reply(MethodNotAllowed(request, match.allowed));
    }
    return;
  }
  const Route& route = *match.route;
  exchange.params = std::move(match.params);
  if (route.access == Access::kToken) {
    exchange.token = TokenOf(request);
    if (exchange.token.empty()) {
      exchange.Reply(ErrorResponse(
          Error{ErrorCode::kUnauthenticated, "an API token is required: send X-Auth-Token or Authorization: Bearer"}));
      return;
    }
  }
  exchange.request = std::move(request);
  Run(route, std::move(exchange));
}

void RestApi::Admit(const server::HttpRequestHead& head, server::AdmitDone admit) {
  if (!head.has_body()) return admit(server::Admission{});
  auto match = routes_.Find(head.method, head.path);
  auto refuse = Instrument(match.pattern.empty() ? "unmatched" : match.pattern, [admit](server::HttpResponse r) {
    admit(server::Admission{std::move(r), {}});
  });
  if (!match.route) {
    if (match.allowed.empty()) {
      return refuse(ErrorResponse(Error{ErrorCode::kNotFound, "no such resource: " + head.path}));
    }
    return refuse(MethodNotAllowed(head, match.allowed));
  }
  if (match.route->access != Access::kToken) return admit(server::Admission{});
  std::string token = TokenOf(head);
  if (token.empty()) {
    return refuse(ErrorResponse(
        Error{ErrorCode::kUnauthenticated, "an API token is required: send X-Auth-Token or Authorization: Bearer"}));
  }
  if (auto who = deps_.auth.VerifiedRecently(token)) return admit(server::Admission{std::nullopt, std::move(*who)});
  boost::asio::post(deps_.blocking, [this, token = std::move(token), what = head.method + " " + head.path,
                                     admit = std::move(admit), refuse = std::move(refuse)]() {
    auto who = Verify(token, what);
    if (!who) return refuse(ErrorResponse(who.error()));
    admit(server::Admission{std::nullopt, std::move(*who)});
  });
}

Result<auth::Principal> RestApi::Verify(const std::string& token, const std::string& what) {
  Result<auth::Principal> who = tl::unexpected(Error{});
  try {
    who = deps_.auth.VerifyToken(token);
  } catch (const std::exception& e) {
    who = Internal(std::string("token check failed: ") + e.what());
  }
  if (!who && who.error().code == ErrorCode::kInternal) Log()->error("{}: {}", what, who.error().message);
  return who;
}

void RestApi::Run(const Route& route, Exchange exchange) {
  if (route.execution == Execution::kInline) return Dispatch(route, std::move(exchange));
  boost::asio::post(deps_.blocking, [this, &route, exchange = std::move(exchange)]() mutable {
    if (route.access == Access::kToken) {
      // Checked again even when Admit checked it on the headers: reading a large body takes
      // minutes, and a token revoked (or a user deleted) meanwhile must not have its request run
      // (the Authenticator forgets such a token at once: this check then reads the store).
      auto who = Verify(exchange.token, exchange.request.method + " " + exchange.request.path);
      if (!who) return exchange.Reply(ErrorResponse(who.error()));
      exchange.principal = std::move(*who);
    }
    Dispatch(route, std::move(exchange));
  });
}

void RestApi::Dispatch(const Route& route, Exchange exchange) {
  // Kept so that a throwing handler can still answer; Instrument drops a second answer.
  server::Respond respond = exchange.respond;
  std::string what = exchange.request.method + " " + exchange.request.path;
  try {
    route.handler(std::move(exchange));
  } catch (const std::exception& e) {
    Log()->error("{}: unexpected exception: {}", what, e.what());
    respond(ErrorResponse(Error{ErrorCode::kInternal, "internal error"}));
  }
}

server::Respond RestApi::Instrument(const std::string& route_label, server::Respond respond) {
  auto answered = std::make_shared<std::atomic<bool>>(false);
  return [&metrics = deps_.metrics, &clock = deps_.clock, route_label, started = deps_.clock.Steady(), answered,
          respond = std::move(respond)](server::HttpResponse response) {
    if (answered->exchange(true)) {
      Log()->warn("{}: second answer to one request dropped (status {})", route_label, response.status);
      return;
    }
    const double seconds = std::chrono::duration<double>(clock.Steady() - started).count();
    metrics
        .GetCounter(kRequestsTotal, "HTTP requests by route and status code",
                    {{"route", route_label}, {"code", std::to_string(response.status)}})
        .Inc();
    metrics
        .GetHistogram(kRequestDuration, "HTTP request latency by route, in seconds", metrics::DefaultLatencyBuckets(),
                      {{"route", route_label}})
        .Observe(seconds);
    Log()->debug("{} → {} in {:.1f} ms", route_label, response.status, seconds * 1e3);
    respond(std::move(response));
  };
}

}  // namespace ew::rest
