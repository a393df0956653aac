// `edgewire trigger ...`: MQTT and schedule triggers of functions (REST /v1/triggers); `ls` also
// shows the GPIO edge triggers of deployments. FN is a function id or name (its newest version);
// TRIGGER a trigger id. Errors as in commands.hpp: a bad --when or a refused request exits 2.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "cloud-conductor/cli/commands.hpp"
#include "common/error/error.hpp"

namespace ew::cli {

struct TriggerCreateOptions {
  std::string mqtt;      // --mqtt TOPIC-FILTER; or
  std::string schedule;  // --schedule 'CRON' (five fields, UTC)
  int qos = 0;           // --qos, MQTT only
  std::string when;      // --when 'FIELD OP VALUE' (temperature>30), MQTT only
};

// "temperature>30", "reading.celsius <= -5", "state==open" → {"field", "op", "value"}: the value
// a number when it reads as one, true/false, else a string. InvalidArgument otherwise.
Result<nlohmann::json> ParseWhen(const std::string& text);

// Prints "trigger <id>: <source> -> <function name>".
Result<void> TriggerCreate(Context& ctx, const std::string& fn, const TriggerCreateOptions& options);
// ID TYPE FUNCTION SOURCE STATE FIRES LAST-FIRED LAST-ERROR.
Result<void> TriggerList(Context& ctx);
// Every field of one trigger, one per line.
Result<void> TriggerShow(Context& ctx, const std::string& trigger);
Result<void> TriggerDelete(Context& ctx, const std::string& trigger);

}  // namespace ew::cli
