// /v1/triggers: MQTT topic filters and cron schedules that invoke a function
// (cloud-conductor/triggers), listed with the GPIO edge triggers of deployments. A trigger
// belongs to its function's project: only that project's users (and admins) see or delete it,
// as for the function itself. docs/REST.md.
#include "cloud-conductor/functions/functions_service.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/triggers/trigger_service.hpp"
#include "common/ids/ids.hpp"

namespace ew::rest {

namespace {

using nlohmann::json;
using conductor::triggers::GpioTriggerRow;
using conductor::triggers::TriggerService;
using conductor::triggers::TriggerSpec;
using conductor::triggers::TriggerStatus;

constexpr std::string_view kGpioPrefix = "gpio:";

Result<TriggerService*> Triggers(const RestDeps& deps) {
  if (!deps.triggers || !deps.functions) return Unavailable("triggers are not enabled on this conductor");
  return deps.triggers;
}

json TriggerJson(const TriggerStatus& s) {
  const TriggerSpec& t = s.spec;
  json out = {{"id", t.id},
              {"type", conductor::triggers::KindName(t.kind)},
              {"projectId", t.project_id},
              {"functionId", t.function_id},
              {"createdAt", t.created_at},
              {"state", s.state},
              {"fireCount", s.fire_count},
              {"lastFiredAt", s.last_fired_at > 0 ? json(s.last_fired_at) : json()},
              {"skipped", s.skipped},
              {"dropped", s.dropped}};
  out.update(t.Details());
  if (!s.broker_topic.empty()) out["brokerTopic"] = s.broker_topic;  // where devices publish for it
  if (!s.last_error.empty()) {
    out["lastError"] = s.last_error;
    out["lastErrorAt"] = s.last_error_at;
  }
  if (s.next_fire_at) out["nextFireAt"] = *s.next_fire_at;
  return out;
}

// One entry per edge trigger of a deployment: id "gpio:<function>:<board>:<line>". They fire on
// the board, which reports each outcome into the function's history (docs/GPIO.md).
void AppendGpio(const GpioTriggerRow& row, json& out) {
  for (const json& t : row.triggers) {
    if (!t.is_object() || !t.contains("line") || !t["line"].is_string()) continue;
    const std::string line = t["line"].get<std::string>();
    out.push_back({{"id", std::string(kGpioPrefix) + row.function_id + ":" + row.board_id + ":" + line},
                   {"type", "gpio"},
                   {"projectId", row.project_id},
                   {"functionId", row.function_id},
                   {"boardId", row.board_id},
                   {"line", line},
                   {"edge", t.value("edge", "rising")},
                   {"debounceMs", t.value("debounceMs", 0)},
                   {"createdAt", row.updated_at},
                   {"state", "on board"}});
  }
}

Result<server::HttpResponse> Create(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(TriggerService * triggers, Triggers(deps));
  EW_TRY(json body, ParseObject(exchange.request.body, {"type", "functionId", "topic", "qos", "condition", "schedule"}));
  EW_TRY(TriggerSpec spec, TriggerSpec::FromRequest(body));
  // The function must exist and be the caller's (as POST /v1/functions/{id}/invocations checks);
  // its project becomes the trigger's.
  auto function = deps.functions->GetFunction(spec.function_id);
  if (!function) {
    if (function.error().code == ErrorCode::kNotFound)
      return InvalidArgument("functionId: function " + spec.function_id + " does not exist");
    return tl::unexpected(function.error());
  }
  if (!auth::Authenticator::CanAccessProject(exchange.principal, function->project_id))
    return PermissionDenied("function " + spec.function_id + " belongs to another project");
  spec.project_id = function->project_id;
  spec.id = ids::NewId("trg");
  spec.created_at = UnixSeconds(deps.clock.Now());
  EW_TRY(auto created, triggers->Create(std::move(spec)));  // ResourceExhausted (the cap) is 429
  return JsonResponse(201, TriggerJson(created));
}

Result<server::HttpResponse> List(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(TriggerService * triggers, Triggers(deps));
  EW_TRY(std::string project, ListedProject(exchange));
  EW_TRY(auto list, triggers->List(project));
  EW_TRY(auto gpio, triggers->ListGpio(project));
  json out = json::array();
  for (const auto& t : list) out.push_back(TriggerJson(t));
  for (const auto& row : gpio) AppendGpio(row, out);
  return JsonResponse(200, json{{"triggers", out}});
}

// A GPIO trigger's entry, when `id` names one the caller may see.
Result<json> GpioTrigger(TriggerService& triggers, const auth::Principal& who, const std::string& id) {
  const auth::Principal& caller = who;
  EW_TRY(auto rows, triggers.ListGpio(caller.is_admin() ? "" : caller.project_id));
  json all = json::array();
  for (const auto& row : rows) AppendGpio(row, all);
  for (json& t : all) {
    if (t["id"] == id) return std::move(t);
  }
  return NotFound("trigger " + id + " does not exist");
}

Result<TriggerStatus> AccessibleTrigger(TriggerService& triggers, const auth::Principal& who, const std::string& id) {
  EW_TRY(TriggerStatus status, triggers.Get(id));
  if (!auth::Authenticator::CanAccessProject(who, status.spec.project_id))
    return PermissionDenied("trigger " + id + " belongs to another project");
  return status;
}

Result<server::HttpResponse> Show(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(TriggerService * triggers, Triggers(deps));
  const std::string id = exchange.Param("id");
  if (id.rfind(kGpioPrefix, 0) == 0) {
    EW_TRY(json gpio, GpioTrigger(*triggers, exchange.principal, id));
    return JsonResponse(200, gpio);
  }
  EW_TRY(auto status, AccessibleTrigger(*triggers, exchange.principal, id));
  return JsonResponse(200, TriggerJson(status));
}

Result<server::HttpResponse> Delete(const RestDeps& deps, const Exchange& exchange) {
  EW_TRY(TriggerService * triggers, Triggers(deps));
  const std::string id = exchange.Param("id");
  if (id.rfind(kGpioPrefix, 0) == 0) {
    EW_TRY_VOID(GpioTrigger(*triggers, exchange.principal, id));
    return Conflict("GPIO edge triggers belong to their deployment: deploy the function to the board again "
                    "without it (POST /v1/functions/{id}/deployments)");
  }
  EW_TRY(auto status, AccessibleTrigger(*triggers, exchange.principal, id));
  EW_TRY_VOID(triggers->Delete(status.spec.id));
  return NoContent();
}

}  // namespace

void AddTriggerRoutes(RouteTable& routes, const RestDeps& deps) {
  auto add = [&](const char* method, const char* pattern, auto compute) {
    routes.Add({method, pattern, Access::kToken, Execution::kBlocking,
                Answer([&deps, compute](const Exchange& e) { return compute(deps, e); })});
  };
  add("POST", "/v1/triggers", Create);
  add("GET", "/v1/triggers", List);
  add("GET", "/v1/triggers/{id}", Show);
  add("DELETE", "/v1/triggers/{id}", Delete);
}

}  // namespace ew::rest
