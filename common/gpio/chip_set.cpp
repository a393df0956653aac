#include "common/gpio/chip_set.hpp"

namespace ew::gpio {

void ChipSet::Add(std::unique_ptr<GpioChip> chip, std::string backend) {
  chips_.push_back({std::move(chip), std::move(backend)});
}

void ChipSet::AddBroken(Broken broken) { broken_.push_back(std::move(broken)); }

GpioChip* ChipSet::Find(std::string_view chip_name) const {
  for (const Owned& owned : chips_) {
    if (owned.chip->Name() == chip_name) return owned.chip.get();
  }
  return nullptr;
}

namespace {

LineRef RefFor(GpioChip* chip, uint32_t offset) {
  LineRef ref{chip, offset, std::to_string(offset)};
  for (const LineInfo& info : chip->Lines()) {
    if (info.offset == offset && !info.name.empty()) {
      ref.name = info.name;
      break;
    }
  }
  return ref;
}

}  // namespace

Result<LineRef> ChipSet::Resolve(std::string_view line) const {
  if (line.empty()) return InvalidArgument("a line name is required (\"GPIO17\", \"17\" or \"gpiochip0:17\")");
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string_view chip_name = line.substr(0, colon);
    GpioChip* chip = Find(chip_name);
    if (!chip) return NotFound("no GPIO chip \"" + std::string(chip_name) + "\" on this board");
    EW_TRY(uint32_t offset, chip->Resolve(line.substr(colon + 1)));
    return RefFor(chip, offset);
  }
  for (const Owned& owned : chips_) {
    if (auto offset = owned.chip->Resolve(line)) return RefFor(owned.chip.get(), *offset);
  }
  std::string names;
  for (const Owned& owned : chips_) names += (names.empty() ? "" : ", ") + owned.chip->Name();
  return NotFound("no line \"" + std::string(line) + "\" on this board (chips: " + (names.empty() ? "none" : names) +
                  ")");
}

std::vector<ChipSet::Entry> ChipSet::Chips() const {
  std::vector<Entry> out;
  for (const Owned& owned : chips_) out.push_back({owned.chip.get(), owned.backend});
  return out;
}

size_t ChipSet::ReleaseAll(const std::string& consumer) const {
  size_t released = 0;
  for (const Owned& owned : chips_) released += owned.chip->ReleaseAll(consumer);
  return released;
}

}  // namespace ew::gpio
