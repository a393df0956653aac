// Crontab expressions ("*/5 * * * *", "30 14 * * 1,2,3", "*/10 9-17 * * 1-5"): lists, ranges and
// steps per field, numbers only. Two users: flows' inject node (Node-RED also allows a leading
// seconds field, evaluated in local time as cron does) and the conductor's schedule triggers
// (exactly five fields, in UTC so that a schedule means the same on every conductor host).
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>

#include "common/error/error.hpp"

namespace ew::cron {

struct CronOptions {
  bool seconds_field = true;  // accept a sixth, leading field for seconds; false: exactly five fields
  bool utc = false;           // evaluate in UTC; false: the host's local time zone (TZ)
};

class CronSchedule {
 public:
  // InvalidArgument naming the field for anything else (names like "MON", "L", "?" in five-field
  // UTC schedules, numbers out of range, a zero step, a wrong field count).
  static Result<CronSchedule> Parse(const std::string& expression, CronOptions options = {});
  // The first time strictly after `after` that matches (whole seconds); nullopt when none within
  // ~5 years (a date that never comes, like "0 0 30 2 *").
  std::optional<std::chrono::system_clock::time_point> Next(std::chrono::system_clock::time_point after) const;

 private:
  std::bitset<60> second_, minute_;
  std::bitset<24> hour_;
  std::bitset<32> day_;
  std::bitset<13> month_;
  std::bitset<7> weekday_;
  bool day_any_ = true, weekday_any_ = true;
  bool utc_ = false;
};

}  // namespace ew::cron
