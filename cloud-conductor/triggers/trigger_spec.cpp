#include "cloud-conductor/triggers/trigger_spec.hpp"

#include "flows/nodes/mosquitto_library.hpp"

namespace ew::conductor::triggers {

namespace {

Result<void> CheckTopicFilter(const std::string& topic) {
  if (topic.empty() || topic.size() > kMaxTopicFilterBytes)
    return InvalidArgument("topic: required, an MQTT topic filter of at most 256 bytes");
  // $SYS and other broker-internal topics are the broker's business, not a project's.
  if (topic[0] == '$') return InvalidArgument("topic: filters starting with $ (broker topics) are not allowed");
  if (topic.find('\0') != std::string::npos) return InvalidArgument("topic: must not contain NUL");
  EW_TRY(const ::ew::flows::nodes::MosquittoLibrary* lib, ::ew::flows::nodes::MosquittoLibrary::Get());
  // MQTT's UTF-8 (no control characters: a broker would refuse the SUBSCRIBE, and a terminal
  // showing `trigger ls` would obey escape sequences).
  if (lib->validate_utf8(topic.data(), static_cast<int>(topic.size())) != MOSQ_ERR_SUCCESS)
    return InvalidArgument("topic: must be UTF-8 without control characters");
  if (lib->sub_topic_check(topic.c_str()) != MOSQ_ERR_SUCCESS)
    return InvalidArgument("topic: \"" + topic +
                           "\" is not a valid MQTT filter (+ must be a whole level, # only the last level)");
  return Ok();
}

Result<void> CheckMembers(const nlohmann::json& body, std::initializer_list<const char*> allowed) {
  for (const auto& [key, unused] : body.items()) {
    bool known = false;
    for (const char* name : allowed) known = known || key == name;
    if (!known) return InvalidArgument("unknown member \"" + key.substr(0, 64) + "\" for this trigger type");
  }
  return Ok();
}

}  // namespace

const char* KindName(TriggerKind kind) { return kind == TriggerKind::kMqtt ? "mqtt" : "schedule"; }

Result<cron::CronSchedule> TriggerSpec::Schedule() const {
  return cron::CronSchedule::Parse(schedule, cron::CronOptions{/*seconds_field=*/false, /*utc=*/true});
}

Result<TriggerSpec> TriggerSpec::FromRequest(const nlohmann::json& body) {
  if (!body.is_object()) return InvalidArgument("the body must be a JSON object");
  TriggerSpec spec;
  auto type = body.find("type");
  if (type == body.end() || !type->is_string() || (*type != "mqtt" && *type != "schedule"))
    return InvalidArgument("type: required, \"mqtt\" or \"schedule\" (GPIO edge triggers are made with a deployment)");
  spec.kind = *type == "mqtt" ? TriggerKind::kMqtt : TriggerKind::kSchedule;
  auto function = body.find("functionId");
  if (function == body.end() || !function->is_string() || function->get_ref<const std::string&>().empty() ||
      function->get_ref<const std::string&>().size() > 128)
    return InvalidArgument("functionId: required, a function id");
  spec.function_id = function->get<std::string>();
  if (spec.kind == TriggerKind::kMqtt) {
    EW_TRY_VOID(CheckMembers(body, {"type", "functionId", "topic", "qos", "condition"}));
    auto topic = body.find("topic");
    if (topic == body.end() || !topic->is_string()) return InvalidArgument("topic: required, an MQTT topic filter");
    spec.topic = topic->get<std::string>();
    EW_TRY_VOID(CheckTopicFilter(spec.topic));
    if (auto qos = body.find("qos"); qos != body.end()) {
      if (!qos->is_number_integer() || (*qos != 0 && *qos != 1)) return InvalidArgument("qos: must be 0 or 1");
      spec.qos = qos->get<int>();
    }
    if (auto condition = body.find("condition"); condition != body.end() && !condition->is_null()) {
      EW_TRY(spec.condition, ThresholdCondition::Parse(*condition));
    }
  } else {
    EW_TRY_VOID(CheckMembers(body, {"type", "functionId", "schedule"}));
    auto schedule = body.find("schedule");
    if (schedule == body.end() || !schedule->is_string() ||
        schedule->get_ref<const std::string&>().size() > kMaxScheduleBytes)
      return InvalidArgument("schedule: required, a cron expression of five fields (minute hour day month weekday, UTC)");
    spec.schedule = schedule->get<std::string>();
    auto parsed = spec.Schedule();
    if (!parsed) return InvalidArgument("schedule: " + parsed.error().message);
    if (!parsed->Next(std::chrono::system_clock::now()))
      return InvalidArgument("schedule: \"" + spec.schedule + "\" never fires (no such date in the next 5 years)");
  }
  return spec;
}

nlohmann::json TriggerSpec::Details() const {
  if (kind == TriggerKind::kSchedule) return {{"schedule", schedule}};
  nlohmann::json out = {{"topic", topic}, {"qos", qos}};
  if (condition) out["condition"] = condition->ToJson();
  return out;
}

Result<TriggerSpec> TriggerSpec::FromStored(TriggerSpec base, const nlohmann::json& details) {
  if (!details.is_object()) return Internal("trigger " + base.id + ": stored spec is not an object");
  // A row edited by hand may hold other types: an error for this trigger, not an exception.
  for (const char* key : {"schedule", "topic"}) {
    if (details.contains(key) && !details[key].is_string())
      return Internal("trigger " + base.id + ": stored " + key + " is not a string");
  }
  if (details.contains("qos") && !details["qos"].is_number_integer())
    return Internal("trigger " + base.id + ": stored qos is not a number");
  if (base.kind == TriggerKind::kSchedule) {
    base.schedule = details.value("schedule", "");
    if (!base.Schedule()) return Internal("trigger " + base.id + ": stored schedule no longer parses");
    return base;
  }
  base.topic = details.value("topic", "");
  base.qos = details.value("qos", 0);
  if (auto c = details.find("condition"); c != details.end()) {
    auto condition = ThresholdCondition::Parse(*c);
    if (!condition) return Internal("trigger " + base.id + ": stored condition no longer parses");
    base.condition = std::move(*condition);
  }
  if (base.topic.empty()) return Internal("trigger " + base.id + ": stored without a topic");
  return base;
}

}  // namespace ew::conductor::triggers
