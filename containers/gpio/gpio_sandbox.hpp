// What a function's container gets for GPIO (docs/GPIO.md → Functions): its broker's socket
// directory at /run/edgewire, the clients read-only at /opt/edgewire, and the environment that
// points at them. Never the chip device.
#pragma once

#include <filesystem>

#include "common/error/error.hpp"
#include "containers/gpio/gpio_broker.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

inline constexpr const char* kGpioSocketMount = "/run/edgewire";
inline constexpr const char* kGpioSocketPath = "/run/edgewire/gpio.sock";
inline constexpr const char* kGpioSocketEnv = "EDGEWIRE_GPIO_SOCKET";
inline constexpr const char* kGpioClientsMount = "/opt/edgewire";

// The clients directory (bin/gpio, python/edgewire_gpio.py, include/edgewire_gpio.h) this build
// was configured with: CMake's EW_GPIO_CLIENTS_DIR, the build tree's assembled copy unless a
// package build sets /usr/lib/edgewire/gpio.
std::filesystem::path DefaultGpioClientsDir();

// Adds the mounts and EDGEWIRE_GPIO_SOCKET, PATH (/opt/edgewire/bin first, so that the broker's
// `gpio` wins over a host's /usr/bin/gpio such as WiringPi's) and PYTHONPATH to `spec`.
// Unavailable when `clients_dir` is not a directory (the function would not find `gpio`).
Result<void> AddGpioToContainer(ContainerSpec& spec, const GpioBroker& broker, const std::filesystem::path& clients_dir);

}  // namespace ew::containers
