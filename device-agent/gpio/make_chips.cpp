#include "device-agent/gpio/make_chips.hpp"

#include <utility>

#include "common/gpio/sim_chip.hpp"
#include "common/log/log.hpp"
#include "device-agent/gpio/gpiod_chip.hpp"

namespace ew::agent::gpio {

const ew::log::Logger Log{"gpio"};

namespace {

void AddSim(const config::GpioChipConfig& chip_config, BoardChips& board) {
  auto lines = chip_config.lines.empty() ? ew::gpio::SimChip::RaspberryPiLines() : chip_config.lines;
  const size_t count = lines.size();
  auto chip = std::make_unique<ew::gpio::SimChip>(chip_config.name, std::move(lines));
  auto log = Log();
  if (!chip_config.control.empty()) {
    auto control = SimControl::Start(*chip, chip_config.control);
    if (control) {
      board.sim_controls.push_back(std::move(*control));
    } else {
      log->error("chip {}: no simulation control socket: {}", chip_config.name, control.error().message);
    }
  }
  log->info("chip {}: simulated, {} lines{}", chip_config.name, count,
            chip_config.control.empty() ? "" : ", control " + chip_config.control);
  board.chips.Add(std::move(chip), "sim");
}

void AddLibgpiod(const config::GpioChipConfig& chip_config, BoardChips& board) {
  auto chip = GpiodChip::Open(chip_config.name, chip_config.device);
  if (!chip) {
    Log()->error("chip {}: {}; the agent runs without it", chip_config.name, chip.error().message);
    board.chips.AddBroken({chip_config.name, "libgpiod", chip.error().message});
    return;
  }
  board.chips.Add(std::move(*chip), "libgpiod");
}

}  // namespace

BoardChips MakeChips(const config::AgentConfig& config) {
  BoardChips board;
  for (const config::GpioChipConfig& chip_config : config::EffectiveGpioChips(config)) {
    if (chip_config.backend == "libgpiod") {
      AddLibgpiod(chip_config, board);
    } else {
      AddSim(chip_config, board);
    }
  }
  return board;
}

}  // namespace ew::agent::gpio
