#include "common/contract/flow.hpp"

#include "common/contract/fields.hpp"

namespace ew::contract::flow {

using nlohmann::json;

namespace {

wamp::Payload Kwargs(json kwargs) { return wamp::Payload{json::array(), std::move(kwargs)}; }

// An optional string: empty when absent, InvalidArgument when not a string.
Result<std::string> OptionalString(const Fields& f, const char* key) {
  if (!f.Has(key)) return std::string();
  return f.AnyString(key);
}

Result<uint64_t> OptionalCount(const Fields& f, const char* key) {
  if (!f.Has(key)) return uint64_t{0};
  return f.Count(key);
}

Result<std::optional<FlowRunState>> OptionalRunState(const Fields& f, const char* key) {
  if (!f.Has(key)) return std::optional<FlowRunState>();
  EW_TRY(std::string text, f.AnyString(key));
  auto state = ParseFlowRunState(text);
  if (!state) return f.Bad(key, state.error().message);
  return std::optional<FlowRunState>(*state);
}

}  // namespace

wamp::Payload DeployRequest::ToPayload() const { return Kwargs(partition); }

Result<DeployRequest> DeployRequest::Parse(const wamp::Payload& payload) {
  if (!payload.kwargs.is_object()) return InvalidArgument("flow.deploy: keyword arguments must be a partition object");
  return DeployRequest{payload.kwargs};
}

wamp::Payload FlowState::ToPayload() const {
  json kwargs = {{"flow", flow}, {"version", version}};
  if (state) kwargs["state"] = Name(*state);
  return Kwargs(std::move(kwargs));
}

Result<FlowState> FlowState::Parse(const wamp::Payload& payload) {
  FlowState out;
  if (payload.kwargs.is_null()) return out;  // an answer without kwargs says nothing more
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "flow state"));
  EW_TRY(out.flow, OptionalString(f, "flow"));
  if (f.Has("version")) {
    EW_TRY(out.version, f.Int("version"));
  }
  EW_TRY(out.state, OptionalRunState(f, "state"));
  return out;
}

wamp::Payload StopRequest::ToPayload() const { return Kwargs({{"flow", flow}}); }

Result<StopRequest> StopRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "flow.stop"));
  StopRequest out;
  EW_TRY(out.flow, f.String("flow"));
  return out;
}

wamp::Payload ListReply::ToPayload() const {
  json list = json::array();
  for (const auto& e : flows) {
    json entry = {{"flow", e.flow},       {"version", e.version}, {"state", Name(e.state)},
                  {"nodes", e.nodes},     {"spooled", e.spooled}, {"dropped", e.dropped}};
    if (!e.error.empty()) entry["error"] = e.error;
    list.push_back(std::move(entry));
  }
  return Kwargs({{"flows", std::move(list)}});
}

Result<ListReply> ListReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "flow.list"));
  EW_TRY(json list, f.Array("flows"));
  ListReply out;
  for (const auto& entry : list) {
    EW_TRY(Fields e, Fields::Of(entry, "flow.list: flows[]"));
    ListedFlow flow;
    EW_TRY(flow.flow, e.String("flow"));
    EW_TRY(flow.version, e.Int("version"));
    EW_TRY(auto state, OptionalRunState(e, "state"));
    flow.state = state.value_or(FlowRunState::kRunning);
    EW_TRY(flow.nodes, OptionalCount(e, "nodes"));
    EW_TRY(flow.spooled, OptionalCount(e, "spooled"));
    EW_TRY(flow.dropped, OptionalCount(e, "dropped"));
    EW_TRY(flow.error, OptionalString(e, "error"));
    out.flows.push_back(std::move(flow));
  }
  return out;
}

wamp::Payload SyncRequest::ToPayload() const {
  json list = json::array();
  for (const auto& h : flows) list.push_back({{"flow", h.flow}, {"version", h.version}});
  return Kwargs({{"flows", std::move(list)}});
}

Result<SyncRequest> SyncRequest::Parse(const wamp::Payload& payload) {
  SyncRequest out;
  if (payload.kwargs.is_null()) return out;  // nothing held
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "flow.sync"));
  const json* list = f.Find("flows");
  if (!list || list->is_null()) return out;
  if (!list->is_array()) return f.Bad("flows", "must be an array of {flow, version}");
  for (const auto& entry : *list) {
    EW_TRY(Fields e, Fields::Of(entry, "flow.sync: flows[]"));
    HeldFlow held;
    EW_TRY(held.flow, e.AnyString("flow"));
    EW_TRY(held.version, e.Int("version"));
    out.flows.push_back(std::move(held));
  }
  return out;
}

wamp::Payload SyncReply::ToPayload() const {
  json deploy_list = json::array();
  for (const auto& p : deploy) deploy_list.push_back(p);
  return Kwargs({{"deploy", std::move(deploy_list)}, {"stop", stop}});
}

Result<SyncReply> SyncReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "flow.sync reply"));
  SyncReply out;
  if (f.Has("deploy")) {
    EW_TRY(json list, f.Array("deploy"));
    for (const auto& p : list) {
      if (!p.is_object()) return f.Bad("deploy", "each entry must be a partition object");
      out.deploy.push_back(p);
    }
  }
  if (f.Has("stop")) {
    EW_TRY(json list, f.Array("stop"));
    for (const auto& id : list) {
      if (!id.is_string()) return f.Bad("stop", "each entry must be a flow id string");
      out.stop.push_back(id.get<std::string>());
    }
  }
  return out;
}

wamp::Payload InvokeRequest::ToPayload() const {
  json kwargs = {{"function", function}, {"placement", placement}, {"event", event}};
  if (timeout_ms) kwargs["timeout_ms"] = *timeout_ms;
  return Kwargs(std::move(kwargs));
}

Result<InvokeRequest> InvokeRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.invoke"));
  InvokeRequest out;
  const json* function = f.Find("function");
  if (!function || !function->is_string() || function->get<std::string>().empty())
    return f.Bad("function", "required, a function name or id");
  out.function = function->get<std::string>();
  if (const json* placement = f.Find("placement"); placement && !placement->is_null()) {
    if (!placement->is_string()) return f.Bad("placement", "must be a string");
    if (!placement->get<std::string>().empty()) out.placement = placement->get<std::string>();
  }
  if (const json* event = f.Find("event")) out.event = *event;
  if (const json* timeout = f.Find("timeout_ms"); timeout && !timeout->is_null()) {
    // Any number (a browser's palette may send 1500.0): whole milliseconds are kept.
    if (!timeout->is_number() || timeout->get<double>() <= 0 || timeout->get<double>() > kMaxInvokeTimeoutMs)
      return f.Bad("timeout_ms", "must be a number of milliseconds, at most an hour");
    out.timeout_ms = static_cast<int64_t>(timeout->get<double>());
  }
  return out;
}

wamp::Payload InvokeReply::ToPayload() const { return Kwargs({{"result", result}}); }

Result<InvokeReply> InvokeReply::Parse(const wamp::Payload& payload) {
  InvokeReply out;
  if (payload.kwargs.is_null()) return out;  // no result: null
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.invoke reply"));
  if (const json* result = f.Find("result")) out.result = *result;
  return out;
}

}  // namespace ew::contract::flow
