// Agent updates over the air (issue 16), admins only (an update can brick a board):
//   POST /v1/agent-packages         upload an edgewire-agent .deb (the body is the file) and its
//                                   Ed25519 signature (?signature=, base64url): boards install
//                                   signed packages only, so an unsigned one is refused here
//                                   already (docs/SECURITY.md "Agent updates")
//   GET  /v1/agent-packages         the packages uploaded
//   POST /v1/agent-updates          roll a package out to boards or a fleet, N at a time
//   GET  /v1/agent-updates[/{id}]   rollouts and each board's state
// The work is in conductor::agents (AgentPackageStore, RolloutManager). docs/REST.md.
#include "cloud-conductor/agents/agent_package_store.hpp"
#include "cloud-conductor/agents/rollout_manager.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"

namespace ew::rest {

namespace {

const ew::log::Logger Log{"rest"};
using conductor::agents::AgentPackage;
using conductor::agents::Rollout;
using nlohmann::json;

Result<void> Ready(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(RequireAdmin(exchange.principal));
  if (!deps.agent_packages || !deps.rollouts) return Unavailable("agent updates are not enabled on this conductor");
  return Ok();
}

json PackageJson(const AgentPackage& p) {
  return {{"sha256", p.sha256},
          {"version", p.version},
          {"architecture", p.architecture},
          {"size", p.size},
          {"uploadedAt", p.uploaded_at},
          {"signature", ids::Base64Url(p.signature)}};
}

json RolloutJson(const Rollout& r) {
  json boards = json::array();
  for (const auto& b : r.boards) {
    boards.push_back({{"boardId", b.board_id},
                      {"state", std::string(contract::update::Name(b.state))},
                      {"message", b.message},
                      {"startedAt", b.started_at},
                      {"updatedAt", b.updated_at},
                      {"agentVersion", b.agent_version},
                      {"packageVersion", b.package_version}});
  }
  return {{"id", r.id},
          {"package", PackageJson(r.package)},
          {"createdBy", r.created_by},
          {"createdAt", r.created_at},
          {"parallel", r.parallel},
          {"deadlineSeconds", r.deadline_seconds},
          {"state", std::string(conductor::agents::Name(r.state))},
          {"stopReason", r.stop_reason},
          {"boards", std::move(boards)}};
}

Result<server::HttpResponse> UploadPackage(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(Ready(deps, exchange));
  if (exchange.request.body.empty()) return InvalidArgument("the body is the agent .deb file; it is empty");
  auto query = exchange.request.query.find("signature");
  if (query == exchange.request.query.end() || query->second.empty())
    return InvalidArgument("signature: boards install signed agent packages only; sign the .deb with `edgewire package "
                           "sign --key KEY FILE` and upload it with ?signature= (base64url of FILE.sig)");
  std::string signature;
  if (query->second.size() > 128 || !ids::Base64UrlDecode(query->second, &signature) ||
      signature.size() != contract::update::kSignatureBytes)
    return InvalidArgument("signature: must be base64url (no padding) of a " +
                           std::to_string(contract::update::kSignatureBytes) + "-byte Ed25519 signature");
  EW_TRY(AgentPackage package,
         deps.agent_packages->Put(exchange.request.body, signature, UnixSeconds(deps.clock.Now())));
  Log()->info("agent package {} ({}, signed) uploaded by {}", package.sha256.substr(0, 12), package.version,
              exchange.principal.name);
  return JsonResponse(201, PackageJson(package));
}

Result<server::HttpResponse> ListPackages(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(Ready(deps, exchange));
  json packages = json::array();
  for (const auto& p : deps.agent_packages->List()) packages.push_back(PackageJson(p));
  return JsonResponse(200, json{{"packages", std::move(packages)}});
}

Result<server::HttpResponse> CreateUpdate(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(Ready(deps, exchange));
  EW_TRY(json body, ParseObject(exchange.request.body, {"package", "boardIds", "fleetId", "parallel", "deadlineSeconds"}));
  if (!body.contains("package") || !body["package"].is_string())
    return InvalidArgument("package: the sha256 of an uploaded agent package is required");
  auto package = deps.agent_packages->Get(body["package"].get<std::string>());
  if (!package) return InvalidArgument("package: " + package.error().message);
  // Stored before packages were signed: every board would refuse it.
  if (package->signature.empty())
    return InvalidArgument("package: " + package->sha256.substr(0, 12) +
                           " has no signature; upload it again with its signature (edgewire package sign)");
  const bool has_boards = body.contains("boardIds");
  const bool has_fleet = body.contains("fleetId");
  if (has_boards == has_fleet) return InvalidArgument("give exactly one of boardIds and fleetId");
  std::vector<std::string> boards;
  if (has_boards) {
    if (!body["boardIds"].is_array() || body["boardIds"].empty())
      return InvalidArgument("boardIds: must be a non-empty array");
    for (const auto& id : body["boardIds"]) {
      if (!id.is_string()) return InvalidArgument("boardIds: must hold board ids (strings)");
      boards.push_back(id.get<std::string>());
    }
  } else {
    if (!body["fleetId"].is_string()) return InvalidArgument("fleetId: must be a string");
    auto fleet = deps.store.GetFleet(body["fleetId"].get<std::string>());
    if (!fleet) return InvalidArgument("fleetId: " + fleet.error().message);
    if (fleet->board_ids.empty()) return InvalidArgument("fleet " + fleet->name + " has no boards");
    boards = fleet->board_ids;
  }
  for (const auto& id : boards) {
    auto board = AccessibleBoard(deps.store, exchange.principal, id);
    if (!board) return InvalidArgument("board " + id.substr(0, 64) + ": " + board.error().message);
  }
  int64_t parallel = 1;
  if (body.contains("parallel")) {
    if (!body["parallel"].is_number_integer()) return InvalidArgument("parallel: must be an integer");
    parallel = body["parallel"].get<int64_t>();
    if (parallel < 1) return InvalidArgument("parallel: must be at least 1");
  }
  int64_t deadline = 120;
  if (body.contains("deadlineSeconds")) {
    if (!body["deadlineSeconds"].is_number_integer()) return InvalidArgument("deadlineSeconds: must be an integer");
    deadline = body["deadlineSeconds"].get<int64_t>();
  }
  EW_TRY(Rollout rollout, deps.rollouts->Create(*package, std::move(boards), static_cast<size_t>(parallel), deadline,
                                                exchange.principal.name));
  return JsonResponse(201, RolloutJson(rollout));
}

Result<server::HttpResponse> ListUpdates(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(Ready(deps, exchange));
  json updates = json::array();
  for (const auto& r : deps.rollouts->List()) updates.push_back(RolloutJson(r));
  return JsonResponse(200, json{{"updates", std::move(updates)}});
}

Result<server::HttpResponse> GetUpdate(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY_VOID(Ready(deps, exchange));
  EW_TRY(Rollout rollout, deps.rollouts->Get(exchange.Param("id")));
  return JsonResponse(200, RolloutJson(rollout));
}

}  // namespace

void AddAgentUpdateRoutes(RouteTable& routes, const RestDeps& deps) {
  auto add = [&](const char* method, const char* pattern,
                 Result<server::HttpResponse> (*handler)(const RestDeps&, const Exchange&)) {
    routes.Add({method, pattern, Access::kToken, Execution::kBlocking,
                Answer([&deps, handler](const Exchange& e) { return handler(deps, e); })});
  };
  add("POST", "/v1/agent-packages", UploadPackage);
  add("GET", "/v1/agent-packages", ListPackages);
  add("POST", "/v1/agent-updates", CreateUpdate);
  add("GET", "/v1/agent-updates", ListUpdates);
  add("GET", "/v1/agent-updates/{id}", GetUpdate);
}

}  // namespace ew::rest
