// A simulated GPIO chip: named lines whose input levels the test (or the demo) drives, with
// bias for unconnected inputs, edge detection and debounce as a kernel would do them, and
// deterministic timestamps supplied by the driver of the simulation. A released output keeps
// its level (and reads as an output) until the line is requested again, as on a Raspberry Pi.
#pragma once

#include <map>
#include <mutex>
#include <utility>

#include "common/gpio/gpio_chip.hpp"

namespace ew::gpio {

class SimChip final : public GpioChip {
 public:
  // `lines` are the names, offset = index ("GPIO0" ... for a Raspberry Pi header).
  SimChip(std::string name, std::vector<std::string> lines);
  // A chip named like a Raspberry Pi's: lines GPIO0 .. GPIO27.
  static std::vector<std::string> RaspberryPiLines();

  std::string Name() const override { return name_; }
  std::vector<LineInfo> Lines() const override;
  Result<uint32_t> Resolve(std::string_view line) const override;
  Result<void> Request(uint32_t offset, const LineRequest& request, const std::string& consumer,
                       EdgeHandler on_edge = nullptr) override;
  Result<void> Release(uint32_t offset, const std::string& consumer) override;
  size_t ReleaseAll(const std::string& consumer) override;
  Result<int> Read(uint32_t offset) const override;
  Result<void> Write(uint32_t offset, int value, const std::string& consumer) override;

  // The outside world: drives an input line to `value` at `timestamp` (monotonic, not before
  // the previous one). Edge handlers run on this thread, after the chip's lock is released.
  Result<void> Drive(uint32_t offset, int value, std::chrono::nanoseconds timestamp);
  // Leaves the line unconnected: it reads as its bias says (pull-up 1, otherwise 0).
  Result<void> Disconnect(uint32_t offset, std::chrono::nanoseconds timestamp);
  // Plays a signal: (timestamp, value) samples in order, e.g. a square wave or a sensor series.
  Result<void> Play(uint32_t offset, const std::vector<std::pair<std::chrono::nanoseconds, int>>& samples);
  // A square wave of `cycles` periods starting high at `start`.
  static std::vector<std::pair<std::chrono::nanoseconds, int>> SquareWave(std::chrono::nanoseconds start,
                                                                          std::chrono::nanoseconds period, int cycles);

 private:
  struct Line {
    std::string name;
    std::string consumer;
    LineRequest request;
    EdgeHandler on_edge;
    bool driven = false;  // false: unconnected, bias decides
    int external = 0;     // level driven from outside
    int output = 0;       // level written by the holder (outputs)
    bool parked_output = false;  // released as an output: still drives `output`
    std::chrono::nanoseconds last_edge{-1};
    uint64_t sequence = 0;
  };
  int LevelLocked(const Line& line) const;
  void ReleaseLocked(Line& line);
  Result<void> SetExternal(uint32_t offset, bool driven, int value, std::chrono::nanoseconds timestamp);
  Result<Line*> LineAt(uint32_t offset);

  std::string name_;
  mutable std::mutex mu_;
  std::vector<Line> lines_;  // GUARDED_BY(mu_)
};

}  // namespace ew::gpio
