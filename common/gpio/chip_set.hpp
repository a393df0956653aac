// The chips of one board, and line names resolved across them: "GPIO17" (the first chip that
// knows the name), "17" (an offset on the first chip), "gpiochip1:5" (a chip and a line on it).
// Shared by the agent's GPIO procedures, the container GPIO broker and triggers. Chips are added
// once at start-up; lookups are then thread-safe (the chips themselves are).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/gpio/gpio_chip.hpp"

namespace ew::gpio {

// A resolved line: the chip, the offset on it, and its label ("GPIO17", or the offset when the
// line has no name).
struct LineRef {
  GpioChip* chip = nullptr;
  uint32_t offset = 0;
  std::string name;
};

class ChipSet {
 public:
  // A chip that could not be opened: listed with its error, never resolved.
  struct Broken {
    std::string name;
    std::string backend;
    std::string error;
  };

  void Add(std::unique_ptr<GpioChip> chip, std::string backend);
  void AddBroken(Broken broken);

  // NotFound ("no line \"GPIO99\" on this board (chips: sim0)") when no chip knows the line.
  Result<LineRef> Resolve(std::string_view line) const;
  GpioChip* Find(std::string_view chip_name) const;

  struct Entry {
    GpioChip* chip;
    std::string backend;
  };
  std::vector<Entry> Chips() const;
  const std::vector<Broken>& BrokenChips() const { return broken_; }
  bool empty() const { return chips_.empty(); }

  // Releases what `consumer` holds on every chip. Returns how many lines.
  size_t ReleaseAll(const std::string& consumer) const;

 private:
  struct Owned {
    std::unique_ptr<GpioChip> chip;
    std::string backend;
  };
  std::vector<Owned> chips_;
  std::vector<Broken> broken_;
};

}  // namespace ew::gpio
