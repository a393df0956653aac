// spdlog loggers, one per module ("router", "rest", "store", "agent", ...). Never log secrets.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace ew::log {

// Returns the logger for a module, creating it (stderr, shared format) on first use.
std::shared_ptr<spdlog::logger> Get(const std::string& module);
// "trace|debug|info|warn|error|off"; unknown names leave the level unchanged and return false.
bool SetLevel(const std::string& level);

}  // namespace ew::log
