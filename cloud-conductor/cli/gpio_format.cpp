#include "cloud-conductor/cli/gpio_format.hpp"

#include <ctime>

#include <fmt/format.h>

#include "cloud-conductor/cli/commands.hpp"
#include "cloud-conductor/cli/format.hpp"

namespace ew::cli {

namespace {

using nlohmann::json;

// A JSON scalar as text: strings bare, numbers as numbers, absent or null as "-".
std::string Text(const json& object, const std::string& key) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return "-";
  const json& value = object[key];
  if (value.is_string()) return value.get<std::string>().empty() ? "-" : value.get<std::string>();
  return value.dump();
}

std::string LineOf(const json& object) { return Text(object, "chip") + ":" + Text(object, "line"); }

}  // namespace

std::string RenderGpioLines(const json& answer) {
  std::vector<Row> rows;
  std::string broken;
  for (const auto& chip : answer.value("chips", json::array())) {
    if (!chip.is_object()) continue;
    if (chip.contains("error")) {
      broken += fmt::format("{} ({}): {}\n", Text(chip, "name"), Text(chip, "backend"), Text(chip, "error"));
      continue;
    }
    for (const auto& line : chip.value("lines", json::array())) {
      rows.push_back({Text(chip, "name"), Text(line, "offset"), Text(line, "name"), Text(line, "direction"),
                      Text(line, "value"), Text(line, "consumer")});
    }
  }
  return RenderTable({"CHIP", "OFFSET", "LINE", "DIRECTION", "VALUE", "HELD-BY"}, rows) + broken;
}

std::string RenderLineValue(const json& line) {
  return fmt::format("{} = {}  (chip {}, offset {})\n", Text(line, "line"), Text(line, "value"), Text(line, "chip"),
                     Text(line, "offset"));
}

std::string RenderReadings(const json& readings) {
  std::vector<Row> rows;
  for (const auto& r : readings) {
    rows.push_back({Text(r, "time"), LineOf(r), Text(r, "kind"), Text(r, "value"), Text(r, "edge"), Text(r, "seq")});
  }
  return RenderTable({"TIME", "LINE", "KIND", "VALUE", "EDGE", "SEQ"}, rows);
}

std::string RenderEdge(const json& event, int64_t received_ms) {
  const std::time_t seconds = static_cast<std::time_t>(received_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:02}:{:02}:{:02}.{:03}  {}  {:<7}  {}  seq {}\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                     received_ms % 1000, LineOf(event), Text(event, "edge"), Text(event, "value"), Text(event, "seq"));
}

}  // namespace ew::cli
