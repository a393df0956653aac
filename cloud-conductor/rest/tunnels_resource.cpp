// /v1/services: reverse tunnels to services on boards (cloud-conductor/tunnels). A service
// belongs to its board's project: only that project's users (and admins) see, use or delete it.
// Also /v1/boards/{id}/proxy-logins: a one-time link that logs a browser in to a board's HTTP
// service (cloud-conductor/tunnels/proxy_session_book.hpp).
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/tunnels/source_filter.hpp"
#include "cloud-conductor/tunnels/tunnel_manager.hpp"
#include "common/ids/ids.hpp"

namespace ew::rest {

namespace {

using nlohmann::json;
using conductor::tunnels::Service;
using conductor::tunnels::ServiceState;
using conductor::tunnels::TunnelManager;

constexpr int64_t kMaxServiceConnections = 1024;

Result<TunnelManager*> Tunnels(const RestDeps& deps) {
  if (!deps.tunnels) return Unavailable("tunnels are not enabled on this conductor");
  return deps.tunnels;
}

json ServiceJson(const ServiceState& s) {
  const Service& v = s.service;
  json out = {{"id", v.id},
              {"projectId", v.project_id},
              {"boardId", v.board_id},
              {"boardPort", v.board_port},
              {"listen", v.listen},
              // A connect-only service has no conductor port: null, never 0.
              {"conductorPort", v.listen ? json(v.conductor_port) : json(nullptr)},
              {"maxConnections", v.max_connections},
              {"allowCidrs", v.allow_cidrs},
              {"createdAt", v.created_at},
              {"state", s.state},
              {"liveConnections", s.live_connections},
              {"totalConnections", s.total_connections},
              {"refusedConnections", s.refused_connections},
              {"bytesToBoard", s.bytes_to_board},
              {"bytesFromBoard", s.bytes_from_board}};
  if (!s.error.empty()) out["error"] = s.error;
  return out;
}

Result<int64_t> IntegerField(const json& body, const char* key, int64_t fallback, int64_t min, int64_t max) {
  if (!body.contains(key)) return fallback;
  const json& v = body[key];
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max)
    return InvalidArgument(std::string(key) + ": must be an integer from " + std::to_string(min) + " to " +
                           std::to_string(max));
  return v.get<int64_t>();
}

Result<server::HttpResponse> Create(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(TunnelManager * tunnels, Tunnels(deps));
  EW_TRY(json body, ParseObject(exchange.request.body,
                                {"boardId", "boardPort", "conductorPort", "maxConnections", "allowCidrs", "listen"}));
  if (!body.contains("boardId") || !body["boardId"].is_string()) return InvalidArgument("boardId: required, a string");
  if (!body.contains("boardPort")) return InvalidArgument("boardPort: required");
  Service spec;
  // listen false: connect-only, no raw conductor port (the unauthenticated one, security review
  // M4); conductorPort, allowCidrs and maxConnections are about that port only, so asking for
  // them is an error.
  if (body.contains("listen")) {
    if (!body["listen"].is_boolean()) return InvalidArgument("listen: must be true or false");
    spec.listen = body["listen"].get<bool>();
  }
  if (!spec.listen) {
    if (body.contains("conductorPort"))
      return InvalidArgument("conductorPort: a service with \"listen\": false has no conductor port; leave it out");
    if (body.contains("allowCidrs"))
      return InvalidArgument("allowCidrs: they guard the conductor port, which a service with \"listen\": false "
                             "does not have; leave them out (its connections are authenticated instead)");
    // maxConnections caps the conductor port's clients; connections through /connect count under
    // the proxied caps ([tunnels] max_proxied, max_proxied_per_user) instead, so it would do nothing.
    if (body.contains("maxConnections"))
      return InvalidArgument("maxConnections: it caps the conductor port's clients, which a service with \"listen\": "
                             "false does not have (its connections count under [tunnels] max_proxied_per_user)");
  }
  EW_TRY(int64_t board_port, IntegerField(body, "boardPort", 0, 1, 65535));
  spec.board_port = static_cast<uint16_t>(board_port);
  // An explicit conductor port: inside the configured range, or (no range) an unprivileged one,
  // so that a service cannot claim the conductor host's system ports.
  const auto& c = deps.config;
  const bool ranged = c.tunnels_port_first > 0;
  EW_TRY(int64_t conductor_port, IntegerField(body, "conductorPort", 0, ranged ? c.tunnels_port_first : 1024,
                                              ranged ? c.tunnels_port_last : 65535));
  spec.conductor_port = static_cast<uint16_t>(conductor_port);
  // Without a range, any port ≥ 1024 of the conductor host is open to whoever names it: ports
  // other software on the host expects to bind, or to take from it once it restarts. Only an
  // admin picks one then; others get whatever free port the OS gives (security review 3, L5).
  if (!ranged && conductor_port != 0 && !exchange.principal.is_admin())
    return PermissionDenied("conductorPort: no [tunnels] port_first..port_last range is configured, so only an "
                            "admin may choose the conductor port; leave conductorPort out to get a free one");
  // Each live connection holds descriptors and a tunnel on the board: a service asks for at most
  // kMaxServiceConnections (the server's caps bound them all together too).
  EW_TRY(spec.max_connections, IntegerField(body, "maxConnections", 0, 1, kMaxServiceConnections));
  if (body.contains("allowCidrs")) {
    const json& cidrs = body["allowCidrs"];
    if (!cidrs.is_array()) return InvalidArgument("allowCidrs: must be an array of strings");
    for (const json& c : cidrs) {
      if (!c.is_string() || c.get<std::string>().size() > 64)
        return InvalidArgument("allowCidrs: must be an array of strings like \"10.0.0.0/8\"");
      spec.allow_cidrs.push_back(c.get<std::string>());
    }
    EW_TRY(auto filter, conductor::tunnels::SourceFilter::Parse(spec.allow_cidrs));
    // "0.0.0.0/0" is no allowlist: a non-admin names networks no wider than the rule allows
    // (security review 2; SourceFilter::CheckUserMayList), whatever listen_address is now.
    if (!exchange.principal.is_admin()) EW_TRY_VOID(filter.CheckUserMayList());
  }
  // A conductor port off loopback is reachable from the network: whoever may connect must be
  // named (allowCidrs), unless an admin decides otherwise (security review H1).
  // A connect-only service opens no port: nothing to guard.
  if (spec.listen && !tunnels->ListensOnLoopback() && spec.allow_cidrs.empty() && !exchange.principal.is_admin())
    return PermissionDenied("services' ports listen on " + tunnels->listen_address() +
                            " ([tunnels] listen_address), reachable from the network: give allowCidrs (the "
                            "source addresses that may connect), or ask an admin to open it");
  EW_TRY(auto board, AccessibleBoard(deps.store, exchange.principal, body["boardId"].get<std::string>()));
  spec.board_id = board.id();
  spec.project_id = board.project_id();
  spec.id = ids::NewId("svc");
  spec.created_at = UnixSeconds(deps.clock.Now());
  EW_TRY(ServiceState created, tunnels->Create(std::move(spec)));
  return JsonResponse(201, ServiceJson(created));
}

Result<ServiceState> AccessibleService(TunnelManager& tunnels, const auth::Principal& who, const std::string& id) {
  EW_TRY(ServiceState state, tunnels.Get(id));
  if (!auth::Authenticator::CanAccessProject(who, state.service.project_id))
    return PermissionDenied("service " + id + " belongs to another project");
  return state;
}

Result<server::HttpResponse> List(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(TunnelManager * tunnels, Tunnels(deps));
  const auth::Principal& who = exchange.principal;
  EW_TRY(auto states, tunnels->List(who.is_admin() ? "" : who.project_id));
  json out = json::array();
  for (const auto& s : states) out.push_back(ServiceJson(s));
  return JsonResponse(200, json{{"services", out}});
}

Result<server::HttpResponse> Show(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(TunnelManager * tunnels, Tunnels(deps));
  EW_TRY(auto state, AccessibleService(*tunnels, exchange.principal, exchange.Param("id")));
  return JsonResponse(200, ServiceJson(state));
}

Result<server::HttpResponse> Delete(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(TunnelManager * tunnels, Tunnels(deps));
  EW_TRY(auto state, AccessibleService(*tunnels, exchange.principal, exchange.Param("id")));
  EW_TRY_VOID(tunnels->Delete(state.service.id));
  return NoContent();
}

// POST /v1/boards/{id}/proxy-logins {"port"}: a link that, opened in a browser, sets a session
// cookie for /v1/boards/{id}/proxy/{port}/ and lands there. Asked with the user's API token; the
// link carries a one-time code, never that token.
Result<server::HttpResponse> CreateProxyLogin(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(TunnelManager * tunnels, Tunnels(deps));
  EW_TRY(json body, ParseObject(exchange.request.body, {"port"}));
  if (!body.contains("port")) return InvalidArgument("port: required");
  EW_TRY(int64_t port, IntegerField(body, "port", 0, 1, 65535));
  const auth::Principal& who = exchange.principal;
  EW_TRY(auto board, AccessibleBoard(deps.store, who, exchange.Param("id")));
  conductor::tunnels::ProxyGrant grant;
  grant.user_id = who.user_id;
  grant.token_id = who.token_id;
  grant.project_id = board.project_id();
  grant.board_id = board.id();
  grant.port = static_cast<uint16_t>(port);
  grant.token_expires_at = who.token_expires_at;
  EW_TRY(std::string code, tunnels->proxy_sessions().IssueLogin(std::move(grant)));
  const auto& options = tunnels->proxy_sessions().options();
  return JsonResponse(201, json{{"url", "/v1/boards/" + board.id() + "/proxy/" + std::to_string(port) +
                                            "/?ew_login=" + code},
                                {"expiresInSeconds", options.login_ttl.count()},
                                {"sessionSeconds", options.session_ttl.count()}});
}

}  // namespace

void AddTunnelRoutes(RouteTable& routes, const RestDeps& deps) {
  auto add = [&](const char* method, const char* pattern, auto compute) {
    routes.Add({method, pattern, Access::kToken, Execution::kBlocking,
                Answer([&deps, compute](const Exchange& e) { return compute(deps, e); })});
  };
  add("POST", "/v1/services", Create);
  add("GET", "/v1/services", List);
  add("GET", "/v1/services/{id}", Show);
  add("DELETE", "/v1/services/{id}", Delete);
  add("POST", "/v1/boards/{id}/proxy-logins", CreateProxyLogin);
}

}  // namespace ew::rest
