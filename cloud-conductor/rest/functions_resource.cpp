// /v1/functions: upload packages (raw .tar.gz), list/show/delete functions, deploy them to
// boards or fleets, invoke them (placed by the conductor, or on a board or in the cloud
// runtime), synchronously or not, and show the placement statistics.
// The work is in functions::FunctionsService; this file validates and renders. docs/REST.md.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <optional>
#include <set>

#include "cloud-conductor/functions/functions_service.hpp"
#include "cloud-conductor/placement/placement_strategy.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "common/gpio/trigger_spec.hpp"
#include "common/log/log.hpp"

namespace ew::rest {

const ew::log::Logger Log{"rest"};

namespace {

using nlohmann::json;
using functions::Deployment;
using functions::FunctionRecord;
using functions::FunctionVersion;

Result<functions::FunctionsService*> Service(const RestDeps& deps) {
  if (!deps.functions) return Unavailable("functions are not enabled on this conductor");
  return deps.functions;
}

json VersionJson(const FunctionVersion& v) {
  return {{"version", v.version}, {"sha256", v.sha256}, {"size", v.size}, {"createdAt", v.created_at}};
}

json FunctionJson(const FunctionRecord& f) {
  return {{"id", f.id},           {"name", f.name},        {"projectId", f.project_id},
          {"version", f.latest.version}, {"sha256", f.latest.sha256}, {"size", f.latest.size},
          {"spec", containers::ToJson(f.latest.spec)}, {"createdAt", f.created_at}, {"updatedAt", f.latest.created_at}};
}

json DeploymentJson(const Deployment& d) {
  return {{"boardId", d.board_id}, {"state", contract::Name(d.state)},  {"version", d.version},       {"sha256", d.sha256},
          {"error", d.error},      {"updatedAt", d.updated_at}, {"triggers", ew::gpio::ToJson(d.triggers)}};
}

// The project a new record goes to: ?project= (admins, or one's own), else the caller's.
Result<std::string> TargetProject(const Exchange& exchange) {
  const auth::Principal& who = exchange.principal;
  auto it = exchange.request.query.find("project");
  std::string project = it == exchange.request.query.end() ? who.project_id : it->second;
  if (!auth::Authenticator::CanAccessProject(who, project)) return PermissionDenied("project " + project + " is not yours");
  if (project.empty()) return InvalidArgument("project: give ?project=<id>");
  return project;
}

Result<FunctionRecord> AccessibleFunction(functions::FunctionsService& service, const auth::Principal& who,
                                          const std::string& id) {
  EW_TRY(auto function, service.GetFunction(id));
  if (!auth::Authenticator::CanAccessProject(who, function.project_id))
    return PermissionDenied("function " + id + " belongs to another project");
  return function;
}

Result<server::HttpResponse> Upload(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  std::string type = exchange.request.Header("content-type");
  type = type.substr(0, type.find(';'));
  if (type != "application/gzip" && type != "application/x-gzip" && type != "application/octet-stream") {
    auto response = ErrorResponse(Error{ErrorCode::kInvalidArgument,
                                        "Content-Type must be application/gzip (a .tar.gz function package), not \"" +
                                            type + "\""});
    response.status = 415;
    return response;
  }
  EW_TRY(std::string project, TargetProject(exchange));
  auto function = service->Upload(project, exchange.request.body);
  if (!function) {
    auto response = ErrorResponse(function.error());
    if (function.error().code == ErrorCode::kResourceExhausted) response.status = 413;
    return response;
  }
  return JsonResponse(201, FunctionJson(*function));
}

Result<server::HttpResponse> List(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(const std::string project, ListedProject(exchange));
  EW_TRY(auto page, PageOf(exchange));
  EW_TRY(auto list, service->ListFunctions(project, page));
  json out = json::array();
  for (const auto& f : list.items) out.push_back(FunctionJson(f));
  return PagedResponse(json{{"functions", out}}, list.next_cursor);
}

Result<server::HttpResponse> Show(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto function, AccessibleFunction(*service, exchange.principal, exchange.Param("id")));
  EW_TRY(auto versions, service->ListVersions(function.id));
  json body = FunctionJson(function);
  body["versions"] = json::array();
  for (const auto& v : versions) body["versions"].push_back(VersionJson(v));
  return JsonResponse(200, body);
}

Result<server::HttpResponse> Delete(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto function, AccessibleFunction(*service, exchange.principal, exchange.Param("id")));
  EW_TRY_VOID(service->Delete(function));
  return NoContent();
}

Result<server::HttpResponse> CreateDeployments(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto function, AccessibleFunction(*service, exchange.principal, exchange.Param("id")));
  EW_TRY(json body, ParseObject(exchange.request.body, {"boardIds", "fleetId", "version", "triggers"}));
  if (function.latest.spec.cloud_only)
    return InvalidArgument("function " + function.name + " is cloudOnly: it cannot be deployed to boards");
  const bool has_boards = body.contains("boardIds");
  const bool has_fleet = body.contains("fleetId");
  if (has_boards == has_fleet) return InvalidArgument("give exactly one of boardIds and fleetId");
  std::vector<std::string> boards;
  if (has_boards) {
    if (!body["boardIds"].is_array() || body["boardIds"].empty()) return InvalidArgument("boardIds: must be a non-empty array");
    for (const auto& id : body["boardIds"]) {
      if (!id.is_string()) return InvalidArgument("boardIds: must hold board ids (strings)");
      boards.push_back(id.get<std::string>());
    }
  } else {
    if (!body["fleetId"].is_string()) return InvalidArgument("fleetId: must be a string");
    EW_TRY(auto fleet, deps.store.GetFleet(body["fleetId"].get<std::string>()));
    if (!auth::Authenticator::CanAccessProject(exchange.principal, fleet.project_id))
      return PermissionDenied("fleet " + fleet.id + " belongs to another project");
    boards = fleet.board_ids;
  }
  std::optional<FunctionVersion> version;
  if (body.contains("version")) {
    if (!body["version"].is_string()) return InvalidArgument("version: must be a string (function.json \"version\")");
    EW_TRY(version, service->FindVersion(function, body["version"].get<std::string>()));
  }
  for (const auto& id : boards) {
    auto board = AccessibleBoard(deps.store, exchange.principal, id);
    if (!board) return InvalidArgument("board " + id + ": " + board.error().message);
    if (board->project_id() != function.project_id)
      return InvalidArgument("board " + id + " is not in the function's project");
  }
  EW_TRY(auto triggers, ew::gpio::ParseTriggers(body.value("triggers", json())));
  EW_TRY(auto deployments, service->Deploy(function, boards, version, triggers));
  json out = json::array();
  for (const auto& d : deployments) out.push_back(DeploymentJson(d));
  return JsonResponse(202, json{{"deployments", out}});
}

Result<server::HttpResponse> ListDeployments(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto function, AccessibleFunction(*service, exchange.principal, exchange.Param("id")));
  EW_TRY(auto page, PageOf(exchange));
  EW_TRY(auto deployments, service->ListDeployments(function.id, page));
  json out = json::array();
  for (const auto& d : deployments.items) out.push_back(DeploymentJson(d));
  return PagedResponse(json{{"deployments", out}}, deployments.next_cursor);
}

Result<server::HttpResponse> DeleteDeployment(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto function, AccessibleFunction(*service, exchange.principal, exchange.Param("id")));
  EW_TRY_VOID(service->Undeploy(function, exchange.Param("boardId")));
  return NoContent();
}

// 200 with the record when the function succeeded; 502 / 504 with the error and the record
// when it failed or timed out (the gateway reached the function, the function did not deliver);
// the error's own status with the record when the function's result could not be had.
server::HttpResponse RenderOutcome(const functions::InvocationOutcome& outcome) {
  const json& record = outcome.record;
  if (outcome.error) {
    const Error& error = *outcome.error;
    json body = {{"error", {{"code", ErrorCodeName(error.code)}, {"message", error.message}}}, {"invocation", record}};
    return JsonResponse(HttpStatus(error.code), body);
  }
  const std::string status = record.value("status", "failed");
  if (status == "succeeded") return JsonResponse(200, record);
  const bool timed_out = status == "timed_out";
  std::string message =
      record.value("error", std::string(timed_out ? "the function timed out" : "the function failed"));
  if (message.empty()) message = timed_out ? "the function timed out" : "the function failed";
  json body = {{"error", {{"code", timed_out ? "function_timed_out" : "function_failed"}, {"message", message}}},
               {"invocation", record}};
  return JsonResponse(timed_out ? 504 : 502, body);
}

constexpr int64_t kMaxWaitMs = 900'000;  // as a function's longest timeoutMs
// A caller's wait below this is refused: shorter than starting a container, it could only time
// out (the run is cancelled then, and the call counts against the limits until it is over).
constexpr int64_t kMinWaitMs = 100;

struct InvokeRequest {
  functions::Placement where;
  json event;
  functions::InvokeOptions options;
};

// Where the call runs: one of boardId (a board), target ("cloud") or placement ("auto",
// "cloud", "board:<id>"); none of them is placement "auto".
Result<functions::Placement> WhereOf(const json& body) {
  const int given = body.contains("boardId") + body.contains("target") + body.contains("placement");
  if (given > 1) return InvalidArgument("give at most one of boardId, target (\"cloud\") and placement");
  if (body.contains("target")) {
    if (body["target"] != "cloud") return InvalidArgument("target: must be \"cloud\" (or give boardId)");
    return functions::Placement::Cloud();
  }
  if (body.contains("boardId")) {
    if (!body["boardId"].is_string() || body["boardId"].get<std::string>().empty())
      return InvalidArgument("boardId: must be a board id");
    return functions::Placement::Board(body["boardId"].get<std::string>());
  }
  if (body.contains("placement")) {
    if (!body["placement"].is_string())
      return InvalidArgument("placement: must be \"auto\", \"cloud\" or \"board:<board id>\"");
    return functions::Placement::Parse(body["placement"].get<std::string>());
  }
  return functions::Placement::Auto();
}

Result<std::chrono::milliseconds> Millis(const json& body, const char* key) {
  const json& value = body[key];
  if (!value.is_number_integer() || value.get<int64_t>() < kMinWaitMs || value.get<int64_t>() > kMaxWaitMs)
    return InvalidArgument(std::string(key) + ": must be an integer between " + std::to_string(kMinWaitMs) + " and " +
                           std::to_string(kMaxWaitMs));
  return std::chrono::milliseconds(value.get<int64_t>());
}

Result<InvokeRequest> ParseInvoke(const Exchange& exchange) {
  EW_TRY(json body, ParseObject(exchange.request.body, {"boardId", "target", "placement", "strategy", "deadlineMs",
                                                        "event", "async", "timeoutMs"}));
  InvokeRequest request;
  EW_TRY(request.where, WhereOf(body));
  request.event = body.value("event", json());
  if (body.contains("async")) {
    if (!body["async"].is_boolean()) return InvalidArgument("async: must be true or false");
    request.options.async = body["async"].get<bool>();
  }
  if (body.contains("timeoutMs")) {
    EW_TRY(request.options.wait, Millis(body, "timeoutMs"));
  }
  if (body.contains("deadlineMs")) {
    EW_TRY(request.options.deadline, Millis(body, "deadlineMs"));
  }
  if (body.contains("strategy")) {
    if (!body["strategy"].is_string()) return InvalidArgument("strategy: must be a string");
    request.options.strategy = body["strategy"].get<std::string>();
    if (auto known = placement::MakeStrategy(request.options.strategy); !known) return tl::unexpected(known.error());
  }
  return request;
}

// A refused invocation: 429 with Retry-After when too many run, the error's status otherwise.
server::HttpResponse Refused(const RestDeps& deps, const std::string& function_id, const Error& error) {
  auto response = ErrorResponse(error);
  if (error.code == ErrorCode::kResourceExhausted)
    response.headers.emplace_back("Retry-After", std::to_string(deps.functions->RetryAfter(function_id).count()));
  return response;
}

void Invoke(const RestDeps& deps, Exchange exchange) {
  auto prepared = [&]() -> Result<std::pair<FunctionRecord, InvokeRequest>> {
    EW_TRY(auto* service, Service(deps));
    EW_TRY(auto request, ParseInvoke(exchange));
    EW_TRY(auto function, AccessibleFunction(*service, exchange.principal, exchange.Param("id")));
    if (request.where.mode == functions::Placement::Mode::kBoard) {
      auto board = AccessibleBoard(deps.store, exchange.principal, request.where.board_id);
      if (!board) return tl::unexpected(board.error());
    }
    return std::make_pair(std::move(function), std::move(request));
  }();
  if (!prepared) return exchange.Reply(ErrorResponse(prepared.error()));
  auto& [function, request] = *prepared;
  if (request.options.async) {
    auto id = deps.functions->Invoke(function, request.where, std::move(request.event), request.options);
    if (!id) return exchange.Reply(Refused(deps, function.id, id.error()));
    return exchange.Reply(JsonResponse(202, json{{"invocationId", *id}}));
  }
  // The exchange answers exactly once: either here (not started) or in the callback.
  auto shared = std::make_shared<Exchange>(std::move(exchange));
  auto started = deps.functions->Invoke(function, request.where, std::move(request.event), request.options,
                                        [shared](functions::InvocationOutcome outcome) {
                                          try {
                                            shared->Reply(RenderOutcome(outcome));
                                          } catch (const std::exception& e) {
                                            Log()->error("invocation answer failed: {}", e.what());
                                            shared->Reply(ErrorResponse(Error{ErrorCode::kInternal, "internal error"}));
                                          }
                                        });
  if (!started) shared->Reply(Refused(deps, function.id, started.error()));
}

// GET /v1/functions/{id}/stats[?strategy=]: what placement measured of each runtime and how it
// weighs them now (lower is better; null = not measured yet).
Result<server::HttpResponse> Stats(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto function, AccessibleFunction(*service, exchange.principal, exchange.Param("id")));
  auto it = exchange.request.query.find("strategy");
  EW_TRY(auto stats, service->Stats(function, it == exchange.request.query.end() ? "" : it->second));
  auto round = [](double v) { return std::round(v * 1000.0) / 1000.0; };
  json runtimes = json::array();
  for (const auto& view : stats.runtimes) {
    const auto& s = view.stats;
    json recent = json::array();
    for (const auto& sample : s.recent()) recent.push_back(round(sample.duration.count()));
    const bool available =
        std::find(stats.available.begin(), stats.available.end(), view.runtime) != stats.available.end();
    runtimes.push_back({{"runtime", view.runtime},
                        {"available", available},
                        {"count", s.count()},
                        {"failures", s.failures()},
                        {"meanMs", s.successes() ? json(round(s.mean().count())) : json()},
                        {"varianceMs2", s.successes() > 1 ? json(round(s.variance())) : json()},
                        {"recentMs", std::move(recent)},
                        {"weight", view.weight ? json(round(*view.weight)) : json()},
                        {"lastAt", view.last_at ? json(UnixSeconds(*view.last_at)) : json()}});
  }
  return JsonResponse(200, json{{"functionId", function.id}, {"strategy", stats.strategy}, {"runtimes", runtimes}});
}

Result<server::HttpResponse> ShowInvocation(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto function, AccessibleFunction(*service, exchange.principal, exchange.Param("id")));
  EW_TRY(auto invocation, service->GetInvocation(function.id, exchange.Param("invocationId")));
  json record = invocation.record;
  record["invocationId"] = invocation.id;
  record["createdAt"] = invocation.created_at;
  return JsonResponse(200, record);
}

// ?from=&to= (unix seconds, both included) and ?runtime= ("cloud" or "board:<id>").
Result<functions::InvocationFilter> InvocationFilterOf(const Exchange& exchange) {
  functions::InvocationFilter filter;
  const auto& query = exchange.request.query;
  for (const char* key : {"from", "to"}) {
    auto it = query.find(key);
    if (it == query.end()) continue;
    int64_t value = 0;
    const auto* end = it->second.data() + it->second.size();
    auto [ptr, ec] = std::from_chars(it->second.data(), end, value);
    if (ec != std::errc() || ptr != end || it->second.empty())
      return InvalidArgument(std::string(key) + ": must be unix seconds (an integer)");
    (std::string(key) == "from" ? filter.from : filter.to) = value;
  }
  if (auto it = query.find("runtime"); it != query.end()) {
    EW_TRY(auto where, functions::Placement::Parse(it->second));
    if (where.mode == functions::Placement::Mode::kAuto)
      return InvalidArgument("runtime: must be \"cloud\" or \"board:<board id>\"");
    filter.target = where.mode == functions::Placement::Mode::kCloud ? std::string(functions::kCloudTarget)
                                                                      : where.board_id;
  }
  return filter;
}

Result<server::HttpResponse> ListInvocations(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto function, AccessibleFunction(*service, exchange.principal, exchange.Param("id")));
  EW_TRY(auto page, PageOf(exchange));
  EW_TRY(auto filter, InvocationFilterOf(exchange));
  EW_TRY(auto list, service->ListInvocations(function.id, page, filter));
  json out = json::array();
  for (auto& i : list.items) {
    json record = std::move(i.record);
    record["invocationId"] = i.id;
    record["createdAt"] = i.created_at;
    out.push_back(std::move(record));
  }
  return PagedResponse(json{{"invocations", out}}, list.next_cursor);
}

}  // namespace

void AddFunctionRoutes(RouteTable& routes, const RestDeps& deps) {
  auto add = [&](const char* method, const char* pattern, auto compute) {
    routes.Add({method, pattern, Access::kToken, Execution::kBlocking,
                Answer([&deps, compute](const Exchange& e) { return compute(deps, e); })});
  };
  add("POST", "/v1/functions", Upload);
  add("GET", "/v1/functions", List);
  add("GET", "/v1/functions/{id}", Show);
  add("DELETE", "/v1/functions/{id}", Delete);
  add("POST", "/v1/functions/{id}/deployments", CreateDeployments);
  add("GET", "/v1/functions/{id}/deployments", ListDeployments);
  add("DELETE", "/v1/functions/{id}/deployments/{boardId}", DeleteDeployment);
  routes.Add({"POST", "/v1/functions/{id}/invocations", Access::kToken, Execution::kBlocking,
              [&deps](Exchange e) { Invoke(deps, std::move(e)); }});
  add("GET", "/v1/functions/{id}/invocations", ListInvocations);
  add("GET", "/v1/functions/{id}/stats", Stats);
  add("GET", "/v1/functions/{id}/invocations/{invocationId}", ShowInvocation);
}

}  // namespace ew::rest
