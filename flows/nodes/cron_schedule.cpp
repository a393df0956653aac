#include "flows/nodes/cron_schedule.hpp"

#include <ctime>
#include <sstream>
#include <vector>

namespace ew::flows::nodes {

namespace {

// "*", "*/n", "a", "a-b", "a-b/n", comma-separated, within [lo, hi]. Sets bits of `out`.
template <size_t N>
Result<bool> ParseField(const std::string& text, int lo, int hi, const char* name, std::bitset<N>& out) {
  bool any = text == "*" || text == "?";
  std::stringstream parts(text);
  std::string part;
  while (std::getline(parts, part, ',')) {
    int step = 1;
    auto slash = part.find('/');
    std::string range = part.substr(0, slash);
    try {
      if (slash != std::string::npos) step = std::stoi(part.substr(slash + 1));
      int a = lo, b = hi;
      if (range != "*" && range != "?") {
        auto dash = range.find('-');
        size_t used = 0;
        a = std::stoi(range.substr(0, dash), &used);
        if (used != range.substr(0, dash).size()) throw std::invalid_argument(range);
        b = dash == std::string::npos ? (slash == std::string::npos ? a : hi) : std::stoi(range.substr(dash + 1));
      }
      if (step < 1 || a < lo || b > hi || a > b) throw std::out_of_range(part);
      for (int v = a; v <= b; v += step) out.set(static_cast<size_t>(v));
    } catch (const std::exception&) {
      return InvalidArgument(std::string("crontab ") + name + " field \"" + part + "\" is not supported");
    }
  }
  return any;
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(const std::string& expression) {
  std::stringstream in(expression);
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  if (fields.size() != 6) return InvalidArgument("crontab \"" + expression + "\" must have 5 or 6 fields");
  CronSchedule s;
  EW_TRY_VOID(ParseField(fields[0], 0, 59, "second", s.second_));
  EW_TRY_VOID(ParseField(fields[1], 0, 59, "minute", s.minute_));
  EW_TRY_VOID(ParseField(fields[2], 0, 23, "hour", s.hour_));
  EW_TRY(s.day_any_, ParseField(fields[3], 1, 31, "day of month", s.day_));
  EW_TRY_VOID(ParseField(fields[4], 1, 12, "month", s.month_));
  std::bitset<8> weekdays;
  EW_TRY(s.weekday_any_, ParseField(fields[5], 0, 7, "day of week", weekdays));
  for (size_t d = 0; d < 7; ++d) s.weekday_[d] = weekdays[d] || (d == 0 && weekdays[7]);
  return s;
}

std::optional<std::chrono::system_clock::time_point> CronSchedule::Next(std::chrono::system_clock::time_point after) const {
  std::time_t t = std::chrono::system_clock::to_time_t(after) + 1;
  std::tm tm{};
  localtime_r(&t, &tm);
  for (int guard = 0; guard < 200000; ++guard) {
    tm.tm_isdst = -1;
    if (!month_[static_cast<size_t>(tm.tm_mon + 1)]) {
      tm.tm_mon += 1, tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = 0, tm.tm_sec = 0;
    } else {
      // cron: when both day fields are restricted, either may match.
      bool dom = day_[static_cast<size_t>(tm.tm_mday)], dow = weekday_[static_cast<size_t>(tm.tm_wday)];
      bool day_ok = day_any_ ? dow : weekday_any_ ? dom : (dom || dow);
      if (!day_ok) {
        tm.tm_mday += 1, tm.tm_hour = 0, tm.tm_min = 0, tm.tm_sec = 0;
      } else if (!hour_[static_cast<size_t>(tm.tm_hour)]) {
        tm.tm_hour += 1, tm.tm_min = 0, tm.tm_sec = 0;
      } else if (!minute_[static_cast<size_t>(tm.tm_min)]) {
        tm.tm_min += 1, tm.tm_sec = 0;
      } else if (!second_[static_cast<size_t>(tm.tm_sec)]) {
        tm.tm_sec += 1;
      } else {
        std::time_t found = std::mktime(&tm);
        return std::chrono::system_clock::from_time_t(found);
      }
    }
    std::time_t norm = std::mktime(&tm);
    localtime_r(&norm, &tm);
  }
  return std::nullopt;
}

}  // namespace ew::flows::nodes
