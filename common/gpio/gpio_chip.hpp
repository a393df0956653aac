// One GPIO chip behind one interface: the libgpiod backend on boards (device-agent/gpio) and
// SimChip (simulated lines for tests and the demo). Used by the agent's GPIO procedures, the
// GPIO broker of function containers and the flow runtime's GPIO nodes.
//
// Lines are held by a consumer (a watcher's session, a function invocation, "edgewire"); only
// the holder may write or release a line, and a second consumer gets Conflict naming the first.
// Implementations are thread-safe; edge handlers run on the thread that observed the edge (the
// simulator's caller, or the backend's event thread) and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error/error.hpp"

namespace ew::gpio {

enum class Direction { kInput, kOutput };
enum class Bias { kAsIs, kDisabled, kPullUp, kPullDown };
enum class Edges { kNone, kRising, kFalling, kBoth };  // which edges a request reports
enum class EdgeKind { kRising, kFalling };

std::string_view DirectionName(Direction d);  // "input", "output"
std::string_view EdgeKindName(EdgeKind e);    // "rising", "falling"

struct LineInfo {
  uint32_t offset = 0;
  std::string name;      // "GPIO17"
  bool used = false;
  std::string consumer;  // who holds it, "" when free
  Direction direction = Direction::kInput;
  int value = 0;
};

struct LineRequest {
  Direction direction = Direction::kInput;
  Bias bias = Bias::kAsIs;
  Edges edges = Edges::kNone;                // inputs only
  std::chrono::microseconds debounce{0};     // edges closer than this to the last reported one are dropped
  int initial_value = 0;                     // outputs only
};

struct EdgeEvent {
  uint32_t offset = 0;
  EdgeKind kind = EdgeKind::kRising;
  std::chrono::nanoseconds timestamp{0};  // the kernel's (or simulator's) monotonic time of the edge
  uint64_t sequence = 0;                  // per line, 1, 2, ... without gaps for reported edges
};

using EdgeHandler = std::function<void(const EdgeEvent&)>;

// What every backend checks before taking a line: a consumer, edges on inputs only, a debounce
// that is not negative. InvalidArgument naming the problem.
Result<void> CheckRequest(const LineRequest& request, const std::string& consumer);
// The offset a name means on a chip of `line_count` lines whose label it is not: "17" or
// "GPIO17" (the Raspberry Pi's BCM numbering). nullopt otherwise.
std::optional<uint32_t> OffsetFromNumber(std::string_view line, size_t line_count);

class GpioChip {
 public:
  virtual ~GpioChip() = default;
  virtual std::string Name() const = 0;  // "gpiochip0", "sim0"
  virtual std::vector<LineInfo> Lines() const = 0;
  // "GPIO17", "17" (the offset) or the line's own name → its offset. NotFound otherwise.
  virtual Result<uint32_t> Resolve(std::string_view line) const = 0;
  // Holds `offset` for `consumer`. Conflict ("line GPIO17 is busy: held by <consumer>") when
  // another consumer holds it; InvalidArgument for edges on an output. `on_edge` receives the
  // edges `request.edges` asks for.
  virtual Result<void> Request(uint32_t offset, const LineRequest& request, const std::string& consumer,
                               EdgeHandler on_edge = nullptr) = 0;
  // NotFound unless `consumer` holds the line.
  virtual Result<void> Release(uint32_t offset, const std::string& consumer) = 0;
  // Releases every line `consumer` holds (a session or a function ended). Returns how many.
  virtual size_t ReleaseAll(const std::string& consumer) = 0;
  virtual Result<int> Read(uint32_t offset) const = 0;
  // PermissionDenied unless `consumer` holds the line as an output.
  virtual Result<void> Write(uint32_t offset, int value, const std::string& consumer) = 0;
};

}  // namespace ew::gpio
