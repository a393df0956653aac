// The `trigger` commands: one REST call each (a function name resolved to its id first).
#include "cloud-conductor/cli/trigger_commands.hpp"

#include <ctime>
#include <ostream>

#include "cloud-conductor/cli/format.hpp"
#include "cloud-conductor/cli/function_commands.hpp"

namespace ew::cli {

namespace {

std::string Trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// What a trigger listens to: the topic (with its condition), the schedule, or the board's line.
std::string Source(const nlohmann::json& t) {
  const std::string type = JsonString(t, "type");
  if (type == "schedule") return "cron " + JsonString(t, "schedule") + " UTC";
  if (type == "gpio") return JsonString(t, "boardId") + " " + JsonString(t, "line") + " " + JsonString(t, "edge");
  std::string source = JsonString(t, "topic");
  if (t.contains("condition") && t["condition"].is_object()) {
    const auto& c = t["condition"];
    source += " when " + JsonString(c, "field") + JsonString(c, "op") + c.value("value", nlohmann::json()).dump();
  }
  return source;
}

std::string When(const nlohmann::json& t, const char* key, int64_t now) {
  auto it = t.find(key);
  if (it == t.end() || !it->is_number_integer()) return "-";
  return RelativeTime(it->get<int64_t>(), now);
}

}  // namespace

Result<nlohmann::json> ParseWhen(const std::string& text) {
  // Two-character operators first, so ">=" is not read as ">" and "=30".
  for (const char* op : {">=", "<=", "==", "!=", ">", "<"}) {
    const size_t at = text.find(op);
    if (at == std::string::npos) continue;
    const std::string field = Trimmed(text.substr(0, at));
    const std::string value = Trimmed(text.substr(at + std::string(op).size()));
    if (field.empty() || value.empty()) break;
    nlohmann::json parsed = ArgumentValue(value);
    if (parsed.is_structured() || parsed.is_null()) parsed = value;
    return nlohmann::json{{"field", field}, {"op", op}, {"value", parsed}};
  }
  return InvalidArgument("--when: expected FIELD OP VALUE with OP one of > >= < <= == !=, like 'temperature>30'");
}

Result<void> TriggerCreate(Context& ctx, const std::string& fn, const TriggerCreateOptions& options) {
  if (options.mqtt.empty() == options.schedule.empty()) return InvalidArgument("give one of --mqtt TOPIC and --schedule CRON");
  if (!options.schedule.empty() && (!options.when.empty() || options.qos != 0))
    return InvalidArgument("--when and --qos are for MQTT triggers");
  nlohmann::json body;
  if (!options.mqtt.empty()) {
    body = {{"type", "mqtt"}, {"topic", options.mqtt}, {"qos", options.qos}};
    if (!options.when.empty()) {
      EW_TRY(body["condition"], ParseWhen(options.when));
    }
  } else {
    body = {{"type", "schedule"}, {"schedule", options.schedule}};
  }
  EW_TRY(nlohmann::json function, LookUpFunction(ctx, fn));
  body["functionId"] = JsonString(function, "id");
  EW_TRY(auto answer, ctx.CallRaw("POST", "/v1/triggers", body));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  ctx.out() << "trigger " << JsonString(answer.first, "id") << ": " << Source(answer.first) << " -> "
            << JsonString(function, "name") << "\n";
  // Where devices publish: the filter under the project's namespace.
  if (const std::string at = JsonString(answer.first, "brokerTopic"); !at.empty())
    ctx.out() << "  subscribed at the broker as " << at << "\n";
  return Ok();
}

Result<void> TriggerList(Context& ctx) {
  EW_TRY(auto answer, ctx.CallRaw("GET", "/v1/triggers"));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::vector<Row> rows;
  for (const auto& t : answer.first.value("triggers", nlohmann::json::array())) {
    auto count = t.find("fireCount");
    rows.push_back({JsonString(t, "id"), JsonString(t, "type"), JsonString(t, "functionId"), Source(t),
                    JsonString(t, "state"), count != t.end() && count->is_number() ? std::to_string(count->get<uint64_t>()) : "-",
                    When(t, "lastFiredAt", now), JsonString(t, "lastError")});
  }
  ctx.out() << RenderTable({"ID", "TYPE", "FUNCTION", "SOURCE", "STATE", "FIRES", "LAST-FIRED", "LAST-ERROR"}, rows);
  return Ok();
}

Result<void> TriggerShow(Context& ctx, const std::string& trigger) {
  EW_TRY(auto answer, ctx.CallRaw("GET", "/v1/triggers/" + PathSegment(trigger)));
  if (PrintedRaw(ctx, answer.second)) return Ok();
  const nlohmann::json& t = answer.first;
  auto line = [&](const char* label, const std::string& value) {
    if (!value.empty()) ctx.out() << label << value << "\n";
  };
  auto time = [&](const char* key) {
    auto it = t.find(key);
    return it != t.end() && it->is_number_integer() ? FormatUtc(it->get<int64_t>()) : std::string();
  };
  auto number = [&](const char* key) {
    auto it = t.find(key);
    return it != t.end() && it->is_number() ? it->dump() : std::string();
  };
  line("id:          ", JsonString(t, "id"));
  line("type:        ", JsonString(t, "type"));
  line("function:    ", JsonString(t, "functionId"));
  line("source:      ", Source(t));
  line("broker topic:", JsonString(t, "brokerTopic").empty() ? "" : " " + JsonString(t, "brokerTopic"));
  line("state:       ", JsonString(t, "state"));
  line("fires:       ", number("fireCount"));
  line("last fired:  ", time("lastFiredAt"));
  line("next fire:   ", time("nextFireAt"));
  line("skipped:     ", number("skipped"));
  line("dropped:     ", number("dropped"));
  line("last error:  ", JsonString(t, "lastError").empty() ? "" : JsonString(t, "lastError") + " (" + time("lastErrorAt") + ")");
  line("created:     ", time("createdAt"));
  return Ok();
}

Result<void> TriggerDelete(Context& ctx, const std::string& trigger) {
  EW_TRY_VOID(ctx.Call("DELETE", "/v1/triggers/" + PathSegment(trigger)));
  if (!ctx.options().json) ctx.out() << "trigger " << trigger << " deleted\n";
  return Ok();
}

}  // namespace ew::cli
