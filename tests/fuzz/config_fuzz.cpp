// Fuzz target: a daemon configuration file through ParseConductorConfig and ParseAgentConfig
// (common/config/config.hpp), both on every input (they share the TOML reader, not the keys).
// Invariants: nothing throws; errors are InvalidArgument and render as an error body; an accepted
// config keeps the cross-key rules and the ranges its keys promise.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "common/config/config.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

const std::set<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error", "off"};

void CheckError(const ew::Error& error) {
  EW_FUZZ_CHECK(error.code == ew::ErrorCode::kInvalidArgument, error.message);
  ew::fuzz::CheckErrorRenders(error);
}

void CheckConductor(const ew::config::ConductorConfig& c) {
  EW_FUZZ_CHECK(c.heartbeat_timeout > c.heartbeat_interval, "heartbeat timeout not above the interval");
  EW_FUZZ_CHECK(c.io_threads >= 1 && c.io_threads <= 256 && c.blocking_threads >= 1 && c.blocking_threads <= 256,
                "thread counts out of range");
  EW_FUZZ_CHECK(c.max_message_bytes >= 1024 && c.max_message_bytes <= (size_t{1} << 30), "max_message_bytes");
  EW_FUZZ_CHECK(c.hello_timeout.count() >= 1 && c.call_timeout.count() >= 1 && c.token_ttl.count() >= 0,
                "a duration below 1");
  EW_FUZZ_CHECK(!c.realm.empty() && !c.listen_address.empty() && !c.store_path.empty(), "an empty required key");
  EW_FUZZ_CHECK(kLogLevels.count(c.log_level) == 1, c.log_level);
}

void CheckAgent(const ew::config::AgentConfig& a) {
  EW_FUZZ_CHECK(a.reconnect_max >= a.reconnect_initial, "reconnect_max below reconnect_initial");
  EW_FUZZ_CHECK(a.functions_max_running >= 1 && a.functions_max_running <= 1024, "max_running out of range");
  EW_FUZZ_CHECK(kLogLevels.count(a.log_level) == 1, a.log_level);
  std::set<std::string> names;
  for (const auto& chip : ew::config::EffectiveGpioChips(a)) {
    EW_FUZZ_CHECK(!chip.name.empty() && chip.name.find(':') == std::string::npos, "bad chip name " + chip.name);
    EW_FUZZ_CHECK(names.insert(chip.name).second, "two chips named " + chip.name);
    EW_FUZZ_CHECK(chip.backend == "sim" || chip.backend == "libgpiod", "bad backend " + chip.backend);
    if (chip.backend == "libgpiod") EW_FUZZ_CHECK(!chip.device.empty() && chip.device[0] == '/', chip.device);
    EW_FUZZ_CHECK(chip.control.size() <= 107, "control socket path too long");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto conductor = ew::config::ParseConductorConfig(text)) {
    CheckConductor(*conductor);
  } else {
    CheckError(conductor.error());
  }
  if (auto agent = ew::config::ParseAgentConfig(text)) {
    CheckAgent(*agent);
  } else {
    CheckError(agent.error());
  }
  return 0;
}
