#include "common/gpio/gpio_chip.hpp"

#include <charconv>

namespace ew::gpio {

std::string_view DirectionName(Direction d) { return d == Direction::kOutput ? "output" : "input"; }
std::string_view EdgeKindName(EdgeKind e) { return e == EdgeKind::kRising ? "rising" : "falling"; }

Result<void> CheckRequest(const LineRequest& request, const std::string& consumer) {
  if (consumer.empty()) return InvalidArgument("a line request needs a consumer");
  if (request.direction == Direction::kOutput && request.edges != Edges::kNone)
    return InvalidArgument("edges can be watched on inputs only");
  if (request.debounce.count() < 0) return InvalidArgument("debounce must not be negative");
  return Ok();
}

std::optional<uint32_t> OffsetFromNumber(std::string_view line, size_t line_count) {
  std::string_view digits = line;
  if (digits.rfind("GPIO", 0) == 0) digits.remove_prefix(4);
  uint32_t offset = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), offset);
  if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() && offset < line_count)
    return offset;
  return std::nullopt;
}

}  // namespace ew::gpio
