// The GPIO broker's wire format (docs/GPIO.md → Functions): one JSON object per line each way.
// Requests {"op":"read"|"write"|"wait", "line", "value", "edge", "timeoutMs"}; replies
// {"value"}, {"edge","timestampNs"}, {"timeout":true} or {"error":{"code","message"}}.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/error/error.hpp"
#include "common/gpio/gpio_chip.hpp"

namespace ew::containers {

struct GpioRequest {
  enum class Op { kRead, kWrite, kWait };
  Op op = Op::kRead;
  std::string line;                                  // as the function names it: "GPIO17", "17", "chip:5"
  int value = 0;                                     // write: 0 or 1
  gpio::Edges edges = gpio::Edges::kBoth;            // wait: which edges end it
  std::optional<std::chrono::milliseconds> timeout;  // wait: none = until an edge (or the container dies)
};

// Longest wait a function may ask for: the longest function timeout (timeoutMs ≤ 900000).
inline constexpr std::chrono::milliseconds kMaxGpioWait{900'000};

// One request line (without its '\n'). InvalidArgument naming the field for anything else:
// not JSON, not an object, unknown op or field, a value other than 0/1, a bad edge or timeout.
Result<GpioRequest> ParseGpioRequest(std::string_view text);

// Reply lines, each ending in '\n'. Strings the function sent (line names in messages) may be
// invalid UTF-8: they are replaced, never thrown on.
std::string GpioValueReply(int value);
std::string GpioEdgeReply(gpio::EdgeKind kind, std::chrono::nanoseconds timestamp);
std::string GpioTimeoutReply();
std::string GpioErrorReply(const Error& error);

}  // namespace ew::containers
