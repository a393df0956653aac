// /v1/flows: distributed Node-RED flows (flows contract). POST a Node-RED export to create a flow
// or a new version of the flow of that name; GET lists, shows (any version) and reports each
// partition's state per board; DELETE stops it everywhere. The work is in
// conductor::flows::FlowsService; this file validates and renders. A flow that does not validate
// is a 400 whose error names the node, with every issue in error.details.
#include <string>

#include "cloud-conductor/flows/flows_service.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/rest/validation.hpp"

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
  json out = {{"board", p.board_id}, {"nodes", p.node_count}, {"state", p.state}};
  if (!p.error.empty()) out["error"] = p.error;
  return out;
}

json FlowJson(const FlowRecord& f) {
  return {{"id", f.id},           {"name", f.name},   {"projectId", f.project_id}, {"version", f.version},
          {"cloud", f.cloud},     {"createdAt", f.created_at}, {"updatedAt", f.updated_at}};
}

Result<FlowRecord> AccessibleFlow(FlowsService& service, const auth::Principal& who, const std::string& id) {
  EW_TRY(auto flow, service.store().GetFlow(id));
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

Result<server::HttpResponse> Create(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(json body, ParseObject(exchange.request.body, {"name", "nodes", "cloud"}));
  if (!body.contains("name") || !body["name"].is_string()) return InvalidArgument("name: required, a string");
  const std::string name = body["name"].get<std::string>();
  EW_TRY_VOID(CheckName("name", name));
  if (!body.contains("nodes") || !body["nodes"].is_array())
    return InvalidArgument("nodes: required, the Node-RED flow export (an array of nodes)");
  std::string cloud = "conductor";
  if (body.contains("cloud")) {
    if (body["cloud"] != "conductor" && body["cloud"] != "external")
      return InvalidArgument("cloud: must be \"conductor\" or \"external\"");
    cloud = body["cloud"].get<std::string>();
  }
  EW_TRY(auto project, TargetProject(deps, exchange));
  auto outcome = service->Deploy(project, name, body["nodes"], cloud);
  if (!outcome) return IssuesResponse(outcome.error().error, outcome.error().issues);
  json out = FlowJson(outcome->flow);
  out["partitions"] = json::array();
  for (const auto& p : outcome->partitions) out["partitions"].push_back(PartitionJson(p));
  return JsonResponse(outcome->created ? 201 : 200, out);
}

Result<server::HttpResponse> List(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  const auth::Principal& who = exchange.principal;
  EW_TRY(auto page, PageOf(exchange));
  EW_TRY(auto flows, service->store().ListFlows(who.is_admin() ? "" : who.project_id, page));
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
  EW_TRY(auto stored, service->store().GetVersion(flow.id, version));
  json out = FlowJson(flow);
  out["version"] = stored.version;
  out["latestVersion"] = flow.version;
  out["cloud"] = stored.cloud;
  out["versionCreatedAt"] = stored.created_at;
  out["nodes"] = stored.nodes;
  if (stored.version == flow.version) {
    EW_TRY(auto partitions, service->store().ListPartitions(flow.id));
    out["partitions"] = json::array();
    for (const auto& p : partitions) out["partitions"].push_back(PartitionJson(p));
  }
  return JsonResponse(200, out);
}

Result<server::HttpResponse> Status(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(auto* service, Service(deps));
  EW_TRY(auto flow, AccessibleFlow(*service, exchange.principal, exchange.Param("id")));
  EW_TRY(auto statuses, service->Status(flow));
  json partitions = json::array();
  for (const auto& s : statuses) {
    json p = PartitionJson(s.partition);
    p["version"] = s.partition.version;
    p["runningVersion"] = s.running_version;
    p["online"] = s.online;
    p["spooled"] = s.spooled ? json(*s.spooled) : json();
    p["dropped"] = s.dropped ? json(*s.dropped) : json();
    p["updatedAt"] = s.partition.updated_at;
    partitions.push_back(std::move(p));
  }
  return JsonResponse(200, json{{"id", flow.id}, {"name", flow.name}, {"version", flow.version}, {"partitions", partitions}});
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
  add("POST", "/v1/flows", Create);
  add("GET", "/v1/flows", List);
  add("GET", "/v1/flows/{id}", Show);
  add("GET", "/v1/flows/{id}/status", Status);
  add("DELETE", "/v1/flows/{id}", Delete);
}

}  // namespace ew::rest
