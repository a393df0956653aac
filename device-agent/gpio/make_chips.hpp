// The board's GPIO chips from the agent config, picked in this one place (docs/GPIO.md, "Chips
// and lines"): libgpiod chips opened on their devices, simulated chips with their control
// sockets. A chip that cannot be opened is logged and listed as broken; the agent runs on.
#pragma once

#include <memory>
#include <vector>

#include "common/config/config.hpp"
#include "common/gpio/chip_set.hpp"
#include "device-agent/gpio/sim_control.hpp"

namespace ew::agent::gpio {

struct BoardChips {
  ew::gpio::ChipSet chips;
  // The control sockets of the sim chips that have one. Declared after `chips`, so they stop
  // (and stop driving their chips) before the chips go.
  std::vector<std::unique_ptr<SimControl>> sim_controls;
};

// Opens config::EffectiveGpioChips(config) in order. A libgpiod chip that fails to open goes to
// ChipSet::AddBroken with the error (backend "libgpiod"); a control socket that fails to start is
// logged and its sim chip still added. Never fails.
BoardChips MakeChips(const config::AgentConfig& config);

}  // namespace ew::agent::gpio
