// What a trigger is, as REST creates it and the registry keeps it (schema v7): an MQTT topic
// filter or a cron schedule bound to one function of the same project. GPIO edge triggers are
// not TriggerSpecs: they belong to a deployment (docs/GPIO.md) and are only listed beside these.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cloud-conductor/triggers/threshold_condition.hpp"
#include "common/cron/cron_schedule.hpp"
#include "common/error/error.hpp"

namespace ew::conductor::triggers {

enum class TriggerKind { kMqtt, kSchedule };

// "mqtt" | "schedule".
const char* KindName(TriggerKind kind);

inline constexpr size_t kMaxTopicFilterBytes = 256;
inline constexpr size_t kMaxScheduleBytes = 128;

struct TriggerSpec {
  std::string id;           // "trg-<hex>"
  std::string project_id;   // the function's project: only its users (and admins) see the trigger
  std::string function_id;
  TriggerKind kind = TriggerKind::kMqtt;
  // kMqtt: the subscription filter (MQTT syntax: + and # wildcards, checked by libmosquitto), its
  // QoS (0 or 1), and the optional condition on the JSON payload.
  std::string topic;
  int qos = 0;
  std::optional<ThresholdCondition> condition;
  // kSchedule: a five-field cron expression, evaluated in UTC.
  std::string schedule;
  int64_t created_at = 0;  // Unix seconds

  // The body of POST /v1/triggers without the server's fields: {"functionId", "type": "mqtt",
  // "topic", "qos"?, "condition"?} or {"functionId", "type": "schedule", "schedule"}. Checks
  // everything but the function's existence: InvalidArgument naming the member (a bad filter or
  // cron expression included); Unavailable when libmosquitto is missing (filters cannot be checked).
  static Result<TriggerSpec> FromRequest(const nlohmann::json& body);
  // The kind's own members, as the registry's `spec` column holds them and REST shows them.
  nlohmann::json Details() const;
  // From a stored row: `details` as Details() wrote it. Internal when it no longer parses.
  static Result<TriggerSpec> FromStored(TriggerSpec base, const nlohmann::json& details);
  // kSchedule: the parsed expression (five fields, UTC).
  Result<cron::CronSchedule> Schedule() const;
};

}  // namespace ew::conductor::triggers
