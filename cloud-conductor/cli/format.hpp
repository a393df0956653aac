// What the `edgewire` CLI prints, as pure functions so that tests can pin it down: aligned
// tables, relative times, board rows, call results.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ew::cli {

using Row = std::vector<std::string>;

// Left-aligned columns separated by two spaces, a header row first, no trailing blanks, one
// "\n" per line. Widths count UTF-8 characters, not bytes. Short rows are padded.
std::string RenderTable(const Row& header, const std::vector<Row>& rows);

// "never" for 0; "12s ago", "5m ago", "3h ago", "2d ago"; a time ahead of `now` (clock skew) is
// "0s ago".
std::string RelativeTime(int64_t then_unix, int64_t now_unix);
// "in 23h 59m" / "in 5m" / "in 12s" / "expired" for a deadline.
std::string TimeUntil(int64_t deadline_unix, int64_t now_unix);
// "2026-11-23 01:29:57 UTC"; "-" for 0.
std::string FormatUtc(int64_t unix_seconds);

// A proto3 JSON int64 (a string, or a number from lenient writers); 0 when absent or malformed.
int64_t JsonInt64(const nlohmann::json& object, const std::string& key);

// `board list`: ID NAME PROJECT STATUS LAST-SEEN PEER. An online board was seen "now".
std::string RenderBoardTable(const nlohmann::json& boards, int64_t now_unix);
// `board show`: "key: value" lines, labels last.
std::string RenderBoard(const nlohmann::json& board, int64_t now_unix);
// `board call`: the positional results when there are no keyword results, the keyword results
// when there are no positional ones, both as {"args","kwargs"} otherwise; pretty JSON.
std::string RenderCallResult(const nlohmann::json& args, const nlohmann::json& kwargs);

// Parses a CLI argument as JSON, or takes it as a plain string when it is not JSON ("on" →
// "on", "17" → 17, "\"17\"" → "17").
nlohmann::json ArgumentValue(const std::string& text);

}  // namespace ew::cli
