#include "common/cron/cron_schedule.hpp"

#include <ctime>
#include <sstream>
#include <vector>

namespace ew::cron {

namespace {

// A whole decimal number, all of `text` (std::stoi alone accepts "5x" and " 5").
int WholeNumber(const std::string& text) {
  size_t used = 0;
  if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument(text);
  int value = std::stoi(text, &used);
  return value;
}

// "*", "*/n", "a", "a-b", "a-b/n", "a/n", comma-separated, within [lo, hi]. Sets bits of `out`;
// returns whether the field is a bare "*" (cron's day-of-month/day-of-week rule needs it).
template <size_t N>
Result<bool> ParseField(const std::string& text, int lo, int hi, const char* name, bool allow_question,
                        std::bitset<N>& out) {
  bool any = text == "*" || (allow_question && text == "?");
  std::stringstream parts(text);
  std::string part;
  bool some = false;
  while (std::getline(parts, part, ',')) {
    some = true;
    int step = 1;
    auto slash = part.find('/');
    std::string range = part.substr(0, slash);
    try {
      if (slash != std::string::npos) step = WholeNumber(part.substr(slash + 1));
      int a = lo, b = hi;
      if (range != "*" && !(allow_question && range == "?")) {
        auto dash = range.find('-');
        a = WholeNumber(range.substr(0, dash));
        b = dash == std::string::npos ? (slash == std::string::npos ? a : hi) : WholeNumber(range.substr(dash + 1));
      }
      if (step < 1 || a < lo || b > hi || a > b) throw std::out_of_range(part);
      for (int v = a; v <= b; v += step) out.set(static_cast<size_t>(v));
    } catch (const std::exception&) {
      return InvalidArgument(std::string("cron ") + name + " field \"" + part + "\" is not supported (numbers " +
                             std::to_string(lo) + "-" + std::to_string(hi) + ", with *, lists, ranges and /steps)");
    }
  }
  if (!some || text.back() == ',')
    return InvalidArgument(std::string("cron ") + name + " field \"" + text + "\" is empty or ends with a comma");
  return any;
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(const std::string& expression, CronOptions options) {
  std::stringstream in(expression);
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  if (options.seconds_field && fields.size() == 5) fields.insert(fields.begin(), "0");
  if (!options.seconds_field) {
    if (fields.size() != 5)
      return InvalidArgument("cron expression \"" + expression +
                             "\" must have 5 fields: minute hour day-of-month month day-of-week");
    fields.insert(fields.begin(), "0");
  }
  if (fields.size() != 6) return InvalidArgument("crontab \"" + expression + "\" must have 5 or 6 fields");
  const bool q = options.seconds_field;  // Node-RED's "?" for "any"; not in five-field schedules
  CronSchedule s;
  s.utc_ = options.utc;
  EW_TRY_VOID(ParseField(fields[0], 0, 59, "second", q, s.second_));
  EW_TRY_VOID(ParseField(fields[1], 0, 59, "minute", q, s.minute_));
  EW_TRY_VOID(ParseField(fields[2], 0, 23, "hour", q, s.hour_));
  EW_TRY(s.day_any_, ParseField(fields[3], 1, 31, "day of month", q, s.day_));
  EW_TRY_VOID(ParseField(fields[4], 1, 12, "month", q, s.month_));
  std::bitset<8> weekdays;
  EW_TRY(s.weekday_any_, ParseField(fields[5], 0, 7, "day of week", q, weekdays));
  for (size_t d = 0; d < 7; ++d) s.weekday_[d] = weekdays[d] || (d == 0 && weekdays[7]);
  return s;
}

std::optional<std::chrono::system_clock::time_point> CronSchedule::Next(std::chrono::system_clock::time_point after) const {
  // Whole seconds: the first second strictly after `after` (a fraction rounds down first).
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(after)) + 1;
  auto split = [this](std::time_t when, std::tm& out) { utc_ ? gmtime_r(&when, &out) : localtime_r(&when, &out); };
  auto join = [this](std::tm& in) { return utc_ ? timegm(&in) : std::mktime(&in); };
  std::tm tm{};
  split(t, tm);
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
        return std::chrono::system_clock::from_time_t(join(tm));
      }
    }
    std::time_t norm = join(tm);
    split(norm, tm);
  }
  return std::nullopt;
}

}  // namespace ew::cron
