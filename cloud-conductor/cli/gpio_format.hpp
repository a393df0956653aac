// What the `gpio` commands print, as pure functions so that tests can pin it down: the lines of a
// board, one line's value, readings history, and one line per watched edge.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace ew::cli {

// `gpio ls`: CHIP OFFSET LINE DIRECTION VALUE HELD-BY ("-" when free), from gpio.lines'
// {"chips": [...]}; a chip the board could not open is a line "CHIP (BACKEND): ERROR" after it.
std::string RenderGpioLines(const nlohmann::json& answer);
// `gpio get` / `gpio set`: "GPIO4 = 1  (chip sim0, offset 4)".
std::string RenderLineValue(const nlohmann::json& line);
// `gpio history`: TIME LINE KIND VALUE EDGE SEQ, LINE as CHIP:NAME; "-" where a reading has no
// edge or seq (reads and writes).
std::string RenderReadings(const nlohmann::json& readings);
// `gpio watch`: "22:13:20.123  sim0:GPIO4  rising   1  seq 42", the time (UTC, ms) being when
// the CLI received the event, `received_ms` after the epoch.
std::string RenderEdge(const nlohmann::json& event, int64_t received_ms);

}  // namespace ew::cli
