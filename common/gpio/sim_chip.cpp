#include "common/gpio/sim_chip.hpp"

namespace ew::gpio {

SimChip::SimChip(std::string name, std::vector<std::string> lines) : name_(std::move(name)) {
  for (auto& line : lines) lines_.push_back(Line{std::move(line)});
}

std::vector<std::string> SimChip::RaspberryPiLines() {
  std::vector<std::string> names;
  for (int i = 0; i < 28; ++i) names.push_back("GPIO" + std::to_string(i));
  return names;
}

int SimChip::LevelLocked(const Line& line) const {
  if (!line.consumer.empty() && line.request.direction == Direction::kOutput) return line.output;
  if (line.consumer.empty() && line.parked_output) return line.output;
  if (line.driven) return line.external;
  return line.request.bias == Bias::kPullUp && !line.consumer.empty() ? 1 : 0;
}

std::vector<LineInfo> SimChip::Lines() const {
  std::lock_guard lock(mu_);
  std::vector<LineInfo> out;
  for (uint32_t i = 0; i < lines_.size(); ++i) {
    const Line& l = lines_[i];
    const Direction direction = !l.consumer.empty() ? l.request.direction
                                : l.parked_output  ? Direction::kOutput
                                                   : Direction::kInput;
    out.push_back({i, l.name, !l.consumer.empty(), l.consumer, direction, LevelLocked(l)});
  }
  return out;
}

Result<uint32_t> SimChip::Resolve(std::string_view line) const {
  std::lock_guard lock(mu_);
  for (uint32_t i = 0; i < lines_.size(); ++i) {
    if (lines_[i].name == line) return i;
  }
  if (auto offset = OffsetFromNumber(line, lines_.size())) return *offset;
  return NotFound("no line \"" + std::string(line) + "\" on " + name_);
}

Result<SimChip::Line*> SimChip::LineAt(uint32_t offset) {
  if (offset >= lines_.size()) return NotFound("no line " + std::to_string(offset) + " on " + name_);
  return &lines_[offset];
}

Result<void> SimChip::Request(uint32_t offset, const LineRequest& request, const std::string& consumer,
                              EdgeHandler on_edge) {
  EW_TRY_VOID(CheckRequest(request, consumer));
  std::lock_guard lock(mu_);
  EW_TRY(Line * line, LineAt(offset));
  if (!line->consumer.empty())
    return Conflict("line " + line->name + " is busy: held by " + line->consumer);
  line->consumer = consumer;
  line->request = request;
  line->on_edge = std::move(on_edge);
  line->parked_output = false;
  if (request.direction == Direction::kOutput) line->output = request.initial_value ? 1 : 0;
  line->last_edge = std::chrono::nanoseconds(-1);
  return Ok();
}

Result<void> SimChip::Release(uint32_t offset, const std::string& consumer) {
  std::lock_guard lock(mu_);
  EW_TRY(Line * line, LineAt(offset));
  if (line->consumer != consumer) return NotFound("line " + line->name + " is not held by " + consumer);
  ReleaseLocked(*line);
  return Ok();
}

void SimChip::ReleaseLocked(Line& line) {
  // As a Raspberry Pi's GPIO block does: a released output keeps driving its last level until
  // someone requests the line as an input.
  line.parked_output = line.request.direction == Direction::kOutput;
  line.consumer.clear();
  line.request = LineRequest{};
  line.on_edge = nullptr;
}

size_t SimChip::ReleaseAll(const std::string& consumer) {
  std::lock_guard lock(mu_);
  size_t released = 0;
  for (auto& line : lines_) {
    if (line.consumer != consumer || consumer.empty()) continue;
    ReleaseLocked(line);
    ++released;
  }
  return released;
}

Result<int> SimChip::Read(uint32_t offset) const {
  std::lock_guard lock(mu_);
  if (offset >= lines_.size()) return NotFound("no line " + std::to_string(offset) + " on " + name_);
  return LevelLocked(lines_[offset]);
}

Result<void> SimChip::Write(uint32_t offset, int value, const std::string& consumer) {
  std::lock_guard lock(mu_);
  EW_TRY(Line * line, LineAt(offset));
  if (line->consumer != consumer || line->request.direction != Direction::kOutput)
    return PermissionDenied("line " + line->name + " is not held as an output by " + consumer);
  line->output = value ? 1 : 0;
  return Ok();
}

Result<void> SimChip::SetExternal(uint32_t offset, bool driven, int value, std::chrono::nanoseconds timestamp) {
  EdgeHandler handler;
  EdgeEvent event;
  {
    std::lock_guard lock(mu_);
    EW_TRY(Line * line, LineAt(offset));
    const int before = LevelLocked(*line);
    line->driven = driven;
    line->external = value ? 1 : 0;
    const int after = LevelLocked(*line);
    if (before == after || line->consumer.empty() || line->request.direction != Direction::kInput) return Ok();
    const EdgeKind kind = after ? EdgeKind::kRising : EdgeKind::kFalling;
    const Edges want = line->request.edges;
    const bool wanted = want == Edges::kBoth || (want == Edges::kRising && kind == EdgeKind::kRising) ||
                        (want == Edges::kFalling && kind == EdgeKind::kFalling);
    if (!wanted || !line->on_edge) return Ok();
    // Debounce as the kernel does it: an edge too close to the last reported one is a bounce.
    if (line->last_edge.count() >= 0 && timestamp - line->last_edge < line->request.debounce) return Ok();
    line->last_edge = timestamp;
    event = EdgeEvent{offset, kind, timestamp, ++line->sequence};
    handler = line->on_edge;
  }
  handler(event);
  return Ok();
}

Result<void> SimChip::Drive(uint32_t offset, int value, std::chrono::nanoseconds timestamp) {
  return SetExternal(offset, true, value, timestamp);
}

Result<void> SimChip::Disconnect(uint32_t offset, std::chrono::nanoseconds timestamp) {
  return SetExternal(offset, false, 0, timestamp);
}

Result<void> SimChip::Play(uint32_t offset, const std::vector<std::pair<std::chrono::nanoseconds, int>>& samples) {
  for (const auto& [at, value] : samples) EW_TRY_VOID(Drive(offset, value, at));
  return Ok();
}

std::vector<std::pair<std::chrono::nanoseconds, int>> SimChip::SquareWave(std::chrono::nanoseconds start,
                                                                          std::chrono::nanoseconds period, int cycles) {
  std::vector<std::pair<std::chrono::nanoseconds, int>> samples;
  for (int i = 0; i < cycles; ++i) {
    samples.emplace_back(start + i * period, 1);
    samples.emplace_back(start + i * period + period / 2, 0);
  }
  return samples;
}

}  // namespace ew::gpio
