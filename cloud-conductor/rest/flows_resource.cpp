// /v1/flows: distributed Node-RED flows (flows contract). POST a Node-RED export to create a flow
// or a new version of the flow of that name; GET lists, shows (any version) and reports each
// partition's state per board; DELETE stops it everywhere. The work is in
// conductor::flows::FlowsService; this file validates and renders. A flow that does not validate
// is a 400 whose error names the node, with every issue in error.details.
// POST and GET .../status answer from the service's callback: no REST worker waits for boards.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cloud-conductor/flows/flows_service.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/rest/validation.hpp"
#include "common/contract/states.hpp"

namespace ew::rest {

namespace {

using nlohmann::json;
using conductor::flows::FlowRecord;
using conductor::flows::FlowsService;
using conductor::flows::PartitionRecord;

Result<FlowsService*> Service(const RestDeps& deps) {
  if (!deps.flows) return Unavailable("flows are not enabled on this conductor");
  return deps.flows;
}

json PartitionJson(const PartitionRecord& p) {
  json out = {{"board", p.board_id}, {"nodes", p.node_count}, {"state", contract::Name(p.state)}};
  if (!p.error.empty()) out["error"] = p.error;
  return out;
}

json FlowJson(const FlowRecord& f) {
  return {{"id", f.id},           {"name", f.name},   {"projectId", f.project_id}, {"version", f.version},
          {"cloud", f.cloud},     {"createdAt", f.created_at}, {"updatedAt", f.updated_at}};
}

Result<FlowRecord> AccessibleFlow(FlowsService& service, const auth::Principal& who, const std::string& id) {
  EW_TRY(auto flow, service.GetFlow(id));
  if (!auth::Authenticator::CanAccessProject(who, flow.project_id))
    return PermissionDenied("flow " + id + " belongs to another project");
  return flow;
}

// The project a new flow goes to: ?project= (admins, or one's own), else the caller's.
Result<std::string> TargetProject(const RestDeps& deps, const Exchange& exchange) {
  const auth::Principal& who = exchange.principal;
  auto it = exchange.request.query.find("project");
  std::string project = it == exchange.request.query.end() ? who.project_id : it->second;
  if (!auth::Authenticator::CanAccessProject(who, project)) return PermissionDenied("project " + project + " is not yours");
  if (project.empty()) return InvalidArgument("project: give ?project=<id>");
  if (!deps.store.GetProject(project)) return InvalidArgument("project " + project + " does not exist");
  return project;
}

// 400 with every issue: {"error":{"code","message","details":[{"node","type","tab","message"}]}}.
server::HttpResponse IssuesResponse(const Error& error, const std::vector<ew::flows::FlowIssue>& issues) {
  json details = json::array();
  for (const auto& full : issues) {
    const auto issue = ew::flows::Clipped(full);
    details.push_back({{"node", issue.node}, {"type", issue.type}, {"tab", issue.tab}, {"message", issue.message}});
  }
  json body = {{"error", {{"code", std::string(ErrorCodeName(error.code))}, {"message", error.message}}}};
  if (!details.empty()) body["error"]["details"] = std::move(details);
  return JsonResponse(HttpStatus(error.code), body);
}

// Longest ?wait= a client may ask for: the deploy holds a timer, not a thread, but an HTTP client
// should not wait on boards for long.
constexpr int64_t kMaxDeployWaitMs = 30'000;

struct CreateRequest {
  FlowsService* service = nullptr;
  std::string project;
  std::string name;
  json nodes;
  std::string cloud = "conductor";
  std::optional<std::chrono::milliseconds> wait;
};

Result<CreateRequest> ParseCreate(const RestDeps& deps, const Exchange& exchange) {
  CreateRequest r;
  EW_TRY(r.service, Service(deps));
  EW_TRY(json body, ParseObject(exchange.request.body, {"name", "nodes", "cloud"}));
  if (!body.contains("name") || !body["name"].is_string()) return InvalidArgument("name: required, a string");
  r.name = body["name"].get<std::string>();
  EW_TRY_VOID(CheckName("name", r.name));
  if (!body.contains("nodes") || !body["nodes"].is_array())
    return InvalidArgument("nodes: required, the Node-RED flow export (an array of nodes)");
  if (body.contains("cloud")) {
    if (body["cloud"] != "conductor" && body["cloud"] != "external")
      return InvalidArgument("cloud: must be \"conductor\" or \"external\"");
    r.cloud = body["cloud"].get<std::string>();
  }
  if (exchange.request.query.count("wait")) {
    EW_TRY(int64_t ms, QueryInteger(exchange, "wait", 0, 0, kMaxDeployWaitMs));
    r.wait = std::chrono::milliseconds(ms);
  }
  EW_TRY(r.project, TargetProject(deps, exchange));
  r.nodes = std::move(body["nodes"]);
  return r;
}

// 201 (a new flow) or 200 (a new version) once every partition's runtime has answered; 202 when
// some are still pending after the wait (their state is "pending"; GET .../status follows them).
server::HttpResponse DeployResponse(const conductor::flows::DeployOutcome& outcome) {
  json out = FlowJson(outcome.flow);
  out["created"] = outcome.created;
  out["partitions"] = json::array();
  bool pending = false;
  for (const auto& p : outcome.partitions) {
    out["partitions"].push_back(PartitionJson(p));
    pending = pending || p.state == contract::PartitionState::kPending;
  }
  auto response = JsonResponse(pending ? 202 : outcome.created ? 201 : 200, out);
  response.headers.emplace_back("Location", "/v1/flows/" + outcome.flow.id);
  return response;
}

void Create(const RestDeps& deps, Exchange exchange) {
  auto request = ParseCreate(deps, exchange);
  if (!request) return exchange.Reply(ErrorResponse(request.error()));
  auto shared = std::make_shared<Exchange>(std::move(exchange));
  request->service->Deploy(request->project, request->name, request->nodes, request->cloud,
                           [shared](conductor::flows::DeployResult outcome) {
                             if (!outcome) return shared->Reply(IssuesResponse(outcome.error().error, outcome.error().issues));
                             shared->Reply(DeployResponse(*outcome));
                           },
                           request->wait);
}

Result<server::HttpResponse> List(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  const auth::Principal& who = exchange.principal;
  EW_TRY(auto page, PageOf(exchange));
  EW_TRY(auto flows, service->ListFlows(who.is_admin() ? "" : who.project_id, page));
  json out = json::array();
  for (const auto& f : flows.items) out.push_back(FlowJson(f));
  return PagedResponse(json{{"flows", out}}, flows.next_cursor);
}

Result<server::HttpResponse> Show(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto flow, AccessibleFlow(*service, exchange.principal, exchange.Param("id")));
  int64_t version = flow.version;
  if (auto it = exchange.request.query.find("version"); it != exchange.request.query.end()) {
    try {
      size_t used = 0;
      version = std::stoll(it->second, &used);
      if (used != it->second.size() || version < 1) throw std::invalid_argument("version");
    } catch (const std::exception&) {
      return InvalidArgument("version: must be a version number (1, 2, ...)");
    }
  }
  EW_TRY(auto stored, service->GetVersion(flow.id, version));
  json out = FlowJson(flow);
  out["version"] = stored.version;
  out["latestVersion"] = flow.version;
  out["cloud"] = stored.cloud;
  out["versionCreatedAt"] = stored.created_at;
  out["nodes"] = stored.nodes;
  if (stored.version == flow.version) {
    EW_TRY(auto partitions, service->Partitions(flow.id));
    out["partitions"] = json::array();
    for (const auto& p : partitions) out["partitions"].push_back(PartitionJson(p));
  }
  return JsonResponse(200, out);
}

void Status(const RestDeps& deps, Exchange exchange) {
  auto flow = [&]() -> Result<std::pair<FlowsService*, FlowRecord>> {
    EW_TRY(auto* service, Service(deps));
    EW_TRY(auto found, AccessibleFlow(*service, exchange.principal, exchange.Param("id")));
    return std::make_pair(service, std::move(found));
  }();
  if (!flow) return exchange.Reply(ErrorResponse(flow.error()));
  auto shared = std::make_shared<Exchange>(std::move(exchange));
  const FlowRecord record = flow->second;
  flow->first->Status(record, [shared, record](Result<std::vector<conductor::flows::PartitionStatus>> statuses) {
    if (!statuses) return shared->Reply(ErrorResponse(statuses.error()));
    json partitions = json::array();
    for (const auto& s : *statuses) {
      json p = PartitionJson(s.partition);
      p["version"] = s.partition.version;
      p["runningVersion"] = s.running_version;
      p["online"] = s.online;
      p["spooled"] = s.spooled ? json(*s.spooled) : json();
      p["dropped"] = s.dropped ? json(*s.dropped) : json();
      p["relayBuffered"] = s.relay_buffered;
      p["relayDropped"] = s.relay_dropped;
      p["updatedAt"] = s.partition.updated_at;
      partitions.push_back(std::move(p));
    }
    shared->Reply(JsonResponse(200, json{{"id", record.id}, {"name", record.name}, {"version", record.version},
                                         {"partitions", partitions}}));
  });
}

Result<server::HttpResponse> Delete(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto flow, AccessibleFlow(*service, exchange.principal, exchange.Param("id")));
  EW_TRY_VOID(service->Delete(flow));
  return NoContent();
}

}  // namespace

void AddFlowRoutes(RouteTable& routes, const RestDeps& deps) {
  auto add = [&](const char* method, const char* pattern, auto compute) {
    routes.Add({method, pattern, Access::kToken, Execution::kBlocking,
                Answer([&deps, compute](const Exchange& e) { return compute(deps, e); })});
  };
  // These two answer from the service's callback (see the top of the file).
  routes.Add({"POST", "/v1/flows", Access::kToken, Execution::kBlocking, [&deps](Exchange e) { Create(deps, std::move(e)); }});
  add("GET", "/v1/flows", List);
  add("GET", "/v1/flows/{id}", Show);
  routes.Add({"GET", "/v1/flows/{id}/status", Access::kToken, Execution::kBlocking,
              [&deps](Exchange e) { Status(deps, std::move(e)); }});
  add("DELETE", "/v1/flows/{id}", Delete);
}

}  // namespace ew::rest
