// The crontab expressions Node-RED's inject node writes ("*/5 * * * *", "30 14 * * 1,2,3",
// "*/10 9-17 * * 1-5", optionally with a leading seconds field): lists, ranges and steps per
// field, evaluated in local time as cron does.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>

#include "common/error/error.hpp"

namespace ew::flows::nodes {

class CronSchedule {
 public:
  // InvalidArgument naming the field for anything else (names like "MON", "L", "?").
  static Result<CronSchedule> Parse(const std::string& expression);
  // The first time strictly after `after` that matches; nullopt when none within ~5 years.
  std::optional<std::chrono::system_clock::time_point> Next(std::chrono::system_clock::time_point after) const;

 private:
  std::bitset<60> second_, minute_;
  std::bitset<24> hour_;
  std::bitset<32> day_;
  std::bitset<13> month_;
  std::bitset<7> weekday_;
  bool day_any_ = true, weekday_any_ = true;
};

}  // namespace ew::flows::nodes
