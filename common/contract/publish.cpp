#include "common/contract/publish.hpp"

#include <regex>

#include "common/contract/fields.hpp"

namespace ew::contract::publish {

using nlohmann::json;

namespace {

Result<std::string> Matching(const Fields& f, const char* key, const std::regex& pattern, const char* shape) {
  EW_TRY(std::string value, f.AnyString(key));
  if (!std::regex_match(value, pattern)) return f.Bad(key, std::string("must be ") + shape);
  return value;
}

}  // namespace

wamp::Payload PublishRequest::ToPayload() const {
  json records_json = json::array();
  for (const Record& record : records) {
    json entry = {{"seq", record.seq}};
    if (!record.payload.args.empty()) entry["args"] = record.payload.args;
    if (!record.payload.kwargs.empty()) entry["kwargs"] = record.payload.kwargs;
    records_json.push_back(std::move(entry));
  }
  return wamp::Payload{json::array(),
                       json{{"topic", topic}, {"spool", spool}, {"stream", stream}, {"records", std::move(records_json)}}};
}

Result<PublishRequest> PublishRequest::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "publish", {"topic", "spool", "stream", "records"}));
  static const std::regex spool_pattern("[A-Za-z0-9_-]{1,64}");
  static const std::regex stream_pattern("[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}");
  PublishRequest out;
  EW_TRY(out.topic, f.String("topic"));
  EW_TRY(out.spool, Matching(f, "spool", spool_pattern, "1-64 characters of [A-Za-z0-9_-]"));
  EW_TRY(out.stream, Matching(f, "stream", stream_pattern, "1-200 characters of [A-Za-z0-9_.-], not starting with '.'"));
  const json* records = f.Find("records");
  if (!records || !records->is_array() || records->empty() || records->size() > kMaxRecords)
    return f.Bad("records", "1 to " + std::to_string(kMaxRecords) + " records");
  uint64_t last = 0;
  for (const json& entry : *records) {
    if (!entry.is_object()) return f.Bad("records", "each must be an object {seq, args?, kwargs?}");
    EW_TRY(Fields r, Fields::Of(entry, "publish: records[]", {"seq", "args", "kwargs"}));
    Record record;
    EW_TRY(record.seq, r.Count("seq"));
    if (record.seq <= last) return f.Bad("records", "seq must be >= 1 and increase within a call");
    last = record.seq;
    if (const json* args = r.Find("args")) {
      if (!args->is_array()) return r.Bad("args", "must be an array");
      record.payload.args = *args;
    }
    if (const json* kwargs = r.Find("kwargs")) {
      if (!kwargs->is_object()) return r.Bad("kwargs", "must be an object");
      record.payload.kwargs = *kwargs;
    }
    out.records.push_back(std::move(record));
  }
  return out;
}

wamp::Payload PublishReply::ToPayload() const {
  return wamp::Payload{json::array(), json{{"through", through}, {"routed", routed}, {"duplicates", duplicates}}};
}

Result<PublishReply> PublishReply::Parse(const wamp::Payload& payload) {
  EW_TRY(Fields f, Fields::Of(payload.kwargs, "publish reply"));
  PublishReply out;
  EW_TRY(out.through, f.Count("through"));
  if (f.Has("routed")) {
    EW_TRY(out.routed, f.Count("routed"));
  }
  if (f.Has("duplicates")) {
    EW_TRY(out.duplicates, f.Count("duplicates"));
  }
  return out;
}

}  // namespace ew::contract::publish
