#include "common/contract/fn.hpp"

#include <regex>

#include "common/contract/fields.hpp"

namespace ew::contract::fn {

using nlohmann::json;

namespace {

wamp::Payload Kwargs(json kwargs) { return wamp::Payload{json::array(), std::move(kwargs)}; }

Result<std::string> Matching(const Fields& f, const char* key, const std::regex& pattern, const char* shape) {
  EW_TRY(std::string value, f.AnyString(key));
  if (!std::regex_match(value, pattern)) return f.Bad(key, std::string("must be ") + shape);
  return value;
}

Result<std::string> FunctionId(const Fields& f) {
  static const std::regex pattern("[A-Za-z0-9_.-]{1,64}");
  return Matching(f, "functionId", pattern, "1-64 characters of [A-Za-z0-9_.-]");
}

Result<std::string> Version(const Fields& f) {
  static const std::regex pattern("[\\x21-\\x7e]{1,64}");
  return Matching(f, "version", pattern, "1-64 printable characters");
}

Result<std::string> Sha256(const Fields& f) {
  static const std::regex pattern("[0-9a-f]{64}");
  return Matching(f, "sha256", pattern, "64 lowercase hex digits");
}

Result<std::vector<ew::gpio::TriggerSpec>> Triggers(const Fields& f) {
  const json* triggers = f.Find("triggers");
  if (!triggers) return std::vector<ew::gpio::TriggerSpec>{};
  auto parsed = ew::gpio::ParseTriggers(*triggers);
  if (!parsed) return f.Bad("triggers", parsed.error().message);
  return parsed;
}

// The fields of a DeployedFunction besides functionId, each checked when present.
Result<void> ReadOptional(const Fields& f, DeployedFunction& out) {
  if (f.Has("name")) {
    EW_TRY(out.name, f.AnyString("name"));
  }
  if (f.Has("version")) {
    EW_TRY(out.version, Version(f));
  }
  if (f.Has("sha256")) {
    EW_TRY(out.sha256, Sha256(f));
  }
  EW_TRY(out.triggers, Triggers(f));
  return Ok();
}

}  // namespace

json DeployedFunction::ToJson() const {
  return {{"functionId", function_id},
          {"name", name},
          {"version", version},
          {"sha256", sha256},
          {"triggers", ew::gpio::ToJson(triggers)}};
}

Result<DeployedFunction> DeployedFunction::FromJson(const json& kwargs, const char* what) {
  EW_TRY(Fields f, Fields::Of(kwargs, what));
  DeployedFunction out;
  EW_TRY(out.function_id, FunctionId(f));
  EW_TRY_VOID(ReadOptional(f, out));
  return out;
}

wamp::Payload DeployRequest::ToPayload() const {
  json kwargs = {{"functionId", function_id}, {"version", version}, {"sha256", sha256}, {"size", size}};
  if (!triggers.empty()) kwargs["triggers"] = ew::gpio::ToJson(triggers);
  return Kwargs(std::move(kwargs));
}

Result<DeployRequest> DeployRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.deploy"));
  DeployRequest out;
  EW_TRY(out.function_id, FunctionId(f));
  EW_TRY(out.version, Version(f));
  EW_TRY(out.sha256, Sha256(f));
  EW_TRY(out.size, f.Count("size"));
  if (out.size == 0) return f.Bad("size", "must be an integer of at least 1");
  EW_TRY(out.triggers, Triggers(f));
  return out;
}

wamp::Payload DeployReply::ToPayload() const {
  json kwargs = function.ToJson();
  kwargs["cached"] = cached;
  if (!warnings.empty()) kwargs["warnings"] = warnings;
  return Kwargs(std::move(kwargs));
}

Result<DeployReply> DeployReply::Parse(const wamp::Payload& payload) {
  DeployReply out;
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.deploy reply"));
  if (f.Has("functionId")) {
    EW_TRY(out.function.function_id, FunctionId(f));
  }
  EW_TRY_VOID(ReadOptional(f, out.function));
  EW_TRY(out.cached, f.BoolOr("cached", false));
  if (const json* warnings = f.Find("warnings")) {
    if (!warnings->is_array()) return f.Bad("warnings", "must be an array");
    for (const json& warning : *warnings) {
      if (warning.is_string()) out.warnings.push_back(warning.get<std::string>());
    }
  }
  return out;
}

wamp::Payload RemoveRequest::ToPayload() const { return Kwargs({{"functionId", function_id}}); }

Result<RemoveRequest> RemoveRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.remove"));
  RemoveRequest out;
  EW_TRY(out.function_id, FunctionId(f));
  return out;
}

wamp::Payload RemoveReply::ToPayload() const { return Kwargs({{"functionId", function_id}, {"removed", removed}}); }

Result<RemoveReply> RemoveReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.remove reply"));
  RemoveReply out;
  EW_TRY(out.function_id, FunctionId(f));
  EW_TRY(out.removed, f.BoolOr("removed", false));
  return out;
}

wamp::Payload ListReply::ToPayload() const {
  json list = json::array();
  for (const ListedFunction& listed : functions) {
    json item = listed.function.ToJson();
    item["warmInstances"] = listed.warm_instances;
    item["running"] = listed.running;
    item["queued"] = listed.queued;
    list.push_back(std::move(item));
  }
  return Kwargs({{"functions", std::move(list)}, {"runtime", runtime}});
}

Result<ListReply> ListReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.list reply"));
  ListReply out;
  EW_TRY(json list, f.Array("functions"));
  if (f.Has("runtime")) {
    EW_TRY(out.runtime, f.AnyString("runtime"));
  }
  for (const json& item : list) {
    ListedFunction listed;
    EW_TRY(listed.function, DeployedFunction::FromJson(item, "fn.list reply: functions[]"));
    EW_TRY(Fields counts, Fields::Of(item, "fn.list reply: functions[]"));
    // Counts are informative (older agents left them out): zero when absent.
    for (auto [key, into] : {std::pair<const char*, uint64_t*>{"warmInstances", &listed.warm_instances},
                             {"running", &listed.running},
                             {"queued", &listed.queued}}) {
      if (counts.Has(key)) {
        EW_TRY(*into, counts.Count(key));
      }
    }
    out.functions.push_back(std::move(listed));
  }
  return out;
}

wamp::Payload InvokeRequest::ToPayload() const { return Kwargs({{"functionId", function_id}, {"event", event}}); }

Result<InvokeRequest> InvokeRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.invoke"));
  InvokeRequest out;
  EW_TRY(out.function_id, FunctionId(f));
  if (const json* event = f.Find("event")) out.event = *event;
  return out;
}

json InvocationRecord::ToJson() const {
  json out = record.is_object() ? record : json::object();
  out["status"] = Name(status);
  return out;
}

Result<InvocationRecord> InvocationRecord::FromJson(const json& json, const char* what) {
  EW_TRY(Fields f, Fields::Of(json, what));
  EW_TRY(std::string status, f.String("status"));
  auto parsed = ParseInvocationStatus(status);
  if (!parsed || *parsed == InvocationStatus::kRunning) return f.Bad("status", "must be succeeded, failed or timed_out");
  return InvocationRecord{*parsed, json};
}

wamp::Payload InvocationRecord::ToPayload() const { return Kwargs(ToJson()); }

Result<InvocationRecord> InvocationRecord::Parse(const wamp::Payload& payload) {
  return FromJson(payload.kwargs, "fn.invoke reply");
}

wamp::Payload FetchRequest::ToPayload() const {
  return Kwargs({{"sha256", sha256}, {"offset", offset}, {"length", length}});
}

Result<FetchRequest> FetchRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.fetch"));
  FetchRequest out;
  EW_TRY(out.sha256, Sha256(f));
  EW_TRY(out.offset, f.Count("offset"));
  EW_TRY(out.length, f.Count("length"));
  if (out.length == 0) return f.Bad("length", "must be at least 1");
  return out;
}

wamp::Payload FetchReply::ToPayload() const {
  return wamp::Payload{json::array({json::binary(bytes)}), {{"size", size}}};
}

Result<FetchReply> FetchReply::Parse(const wamp::Payload& payload) {
  FetchReply out;
  const json& args = payload.args;
  // A JSON peer cannot send bin: a string carries the same bytes.
  if (!args.is_array() || args.empty() || !(args[0].is_binary() || args[0].is_string()))
    return InvalidArgument("fn.fetch reply: no bytes in the first argument");
  if (args[0].is_binary()) {
    const auto& bytes = args[0].get_binary();
    out.bytes.assign(bytes.begin(), bytes.end());
  } else {
    const auto& text = args[0].get_ref<const std::string&>();
    out.bytes.assign(text.begin(), text.end());
  }
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.fetch reply"));
  EW_TRY(out.size, f.Count("size"));
  return out;
}

wamp::Payload ReportRequest::ToPayload() const {
  json kwargs = {{"functionId", function_id}, {"records", records}};
  if (!seqs.empty()) {
    kwargs["spool"] = spool;
    kwargs["seqs"] = seqs;
  }
  return Kwargs(std::move(kwargs));
}

Result<ReportRequest> ReportRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.report"));
  ReportRequest out;
  EW_TRY(out.function_id, f.AnyString("functionId"));
  const json* records = f.Find("records");
  if (!records || !records->is_array() || records->empty() || records->size() > kMaxReportedRecords)
    return f.Bad("records", "1 to " + std::to_string(kMaxReportedRecords) + " invocation records");
  for (const json& record : *records) {
    if (!record.is_object()) return f.Bad("records", "each must be an object");
    out.records.push_back(record);
  }
  if (const json* seqs = f.Find("seqs")) {
    if (!seqs->is_array() || seqs->size() != records->size()) return f.Bad("seqs", "one seq per record");
    uint64_t last = 0;
    for (const json& seq : *seqs) {
      if (!IsCount(seq) || seq.get<uint64_t>() <= last) return f.Bad("seqs", "integers >= 1, increasing");
      last = seq.get<uint64_t>();
      out.seqs.push_back(last);
    }
    static const std::regex spool_pattern("[A-Za-z0-9_-]{1,64}");
    EW_TRY(out.spool, Matching(f, "spool", spool_pattern, "1-64 characters of [A-Za-z0-9_-]"));
  }
  return out;
}

wamp::Payload ReportReply::ToPayload() const { return Kwargs({{"stored", stored}}); }

Result<ReportReply> ReportReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "fn.report reply"));
  ReportReply out;
  EW_TRY(out.stored, f.Count("stored"));
  return out;
}

}  // namespace ew::contract::fn
