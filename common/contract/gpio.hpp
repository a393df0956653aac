// ew.board.<id>.gpio.*: a board's GPIO lines, read, written and watched from the conductor, and
// the ew.board.<id>.gpio.event publications of watched lines (docs/GPIO.md). Line values are
// 0 or 1 (a request may say false/true); edge and bias names are those of docs/GPIO.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/contract/procedure.hpp"

namespace ew::contract::gpio {

struct LineInfo {
  uint32_t offset = 0;
  std::string name;
  bool used = false;
  std::string consumer;
  std::string direction;  // "input" | "output"
  int value = 0;
};

struct ChipLines {
  std::string name;
  std::string backend;
  std::string error;  // set (and no lines) for a chip the board could not open
  std::vector<LineInfo> lines;
};

// gpio.lines reply: kwargs {chips: [{name, backend, error?, lines: [...]}]}.
struct LinesReply {
  std::vector<ChipLines> chips;
  wamp::Payload ToPayload() const;
  static Result<LinesReply> Parse(const wamp::Payload& payload);
};

// gpio.read request: {line} (a line name or "chip:offset").
struct ReadRequest {
  std::string line;
  wamp::Payload ToPayload() const;
  static Result<ReadRequest> Parse(const wamp::Payload& payload);
};

// gpio.write request: {line, value}.
struct WriteRequest {
  std::string line;
  int value = 0;
  wamp::Payload ToPayload() const;
  static Result<WriteRequest> Parse(const wamp::Payload& payload);
};

// gpio.read / gpio.write reply: {chip, line, offset, value}.
struct LineValue {
  std::string chip;
  std::string line;
  uint32_t offset = 0;
  int value = 0;
  nlohmann::json ToJson() const;
  wamp::Payload ToPayload() const;
  static Result<LineValue> Parse(const wamp::Payload& payload);
};

// gpio.watch request: {line, edge, bias?, debounceMs}.
struct WatchRequest {
  std::string line;
  std::string edge = "both";  // rising | falling | both
  std::string bias;           // "" = the board's default (as-is) | as-is | disabled | pull-up | pull-down
  int64_t debounce_ms = 0;    // 0 .. ew::gpio::kMaxDebounceMs
  wamp::Payload ToPayload() const;
  static Result<WatchRequest> Parse(const wamp::Payload& payload);
};

// gpio.watch reply: {watch, chip, line, offset, value}.
struct WatchReply {
  std::string watch;  // the id gpio.unwatch takes
  std::string chip;
  std::string line;
  uint32_t offset = 0;
  int value = 0;
  nlohmann::json ToJson() const;
  wamp::Payload ToPayload() const;
  static Result<WatchReply> Parse(const wamp::Payload& payload);
};

// gpio.unwatch request: {watch}.
struct UnwatchRequest {
  std::string watch;
  wamp::Payload ToPayload() const;
  static Result<UnwatchRequest> Parse(const wamp::Payload& payload);
};

// gpio.event: {chip, line, offset, edge, value, timestampNs, seq}; seq counts this line's
// publications since its watch began, so a listener sees gaps.
struct EdgeEvent {
  std::string chip;
  std::string line;
  uint32_t offset = 0;
  std::string edge;  // rising | falling
  int value = 0;
  int64_t timestamp_ns = 0;  // the board's clock
  uint64_t seq = 0;
  nlohmann::json ToJson() const;
  wamp::Payload ToPayload() const;
  static Result<EdgeEvent> Parse(const wamp::Payload& payload);
};

inline constexpr BoardProcedure<Empty, LinesReply> kLines{"gpio.lines"};
inline constexpr BoardProcedure<ReadRequest, LineValue> kRead{"gpio.read"};
inline constexpr BoardProcedure<WriteRequest, LineValue> kWrite{"gpio.write"};
inline constexpr BoardProcedure<WatchRequest, WatchReply> kWatch{"gpio.watch"};
inline constexpr BoardProcedure<UnwatchRequest, Empty> kUnwatch{"gpio.unwatch"};
inline constexpr BoardTopic<EdgeEvent> kEvent{"gpio.event"};

}  // namespace ew::contract::gpio
