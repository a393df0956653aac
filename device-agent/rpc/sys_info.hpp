// Collects what `ew.board.<id>.sys.info` reports: OS, kernel, hardware model, uptime, load,
// memory and the agent's own footprint, from /proc, /sys, /etc and uname(2).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ew::agent::rpc {

struct GpioChipSummary {
  std::string name;
  std::string backend;
  uint32_t lines = 0;
  uint32_t used = 0;
  std::string error;
  std::vector<std::string> line_names;  // by offset
};

// edgewire.v1.SpoolStreamSummary: one stream of the agent's spool.
struct SpoolStreamSummary {
  std::string name;
  std::string policy;
  int64_t records = 0;
  int64_t bytes = 0;
  int64_t first_seq = 0;
  int64_t next_seq = 0;
  int64_t dropped_oldest = 0;
  int64_t refused = 0;
  int64_t corrupt_records = 0;
};

// The fields of edgewire.v1.SysInfo (common/proto/edgewire/v1/board_rpc.proto), as a plain
// struct: the agent does not link protobuf. SysInfoJson (sys_procedures.hpp) prints it.
struct SysInfo {
  std::string board_id;
  std::string agent_version;
  std::string hostname;
  std::string os;        // PRETTY_NAME from /etc/os-release
  std::string kernel;    // uname -r
  std::string machine;   // uname -m
  std::string hardware;  // device-tree model or DMI product name
  double uptime_seconds = 0;
  double agent_uptime_seconds = 0;
  std::vector<double> load_average;  // 1, 5 and 15 minutes; empty when unreadable
  int64_t memory_total_bytes = 0;
  int64_t memory_available_bytes = 0;
  int64_t agent_rss_bytes = 0;
  int32_t cpu_count = 0;
  std::string container_runtime;
  // How function limits are enforced ({"memory", "pids", "cpu", "uid"}: the mechanism, "" when
  // not enforced; edgewire.v1.ContainerLimits); null without a runtime.
  nlohmann::json container_limits;
  std::vector<GpioChipSummary> gpio_chips;
  std::vector<SpoolStreamSummary> spool_streams;
};

class SysInfoCollector {
 public:
  // `root` prefixes every file read ("/" on a board; a temp dir of fake files in tests).
  // `agent_start` is when the agent started, for agent_uptime_seconds.
  SysInfoCollector(std::string board_id, std::string agent_version, std::string root = "/",
                   std::chrono::steady_clock::time_point agent_start = std::chrono::steady_clock::now());

  // Never fails: a file that is missing or unreadable leaves its fields empty or zero.
  // Reads a handful of small files; cheap enough for the io thread.
  SysInfo Collect() const;

  // What runs functions here ("runc", "bwrap", or "none (<why>)"); set once at start-up.
  void set_container_runtime(std::string runtime) { container_runtime_ = std::move(runtime); }
  void set_container_limits(nlohmann::json limits) { container_limits_ = std::move(limits); }
  // The board's GPIO chips, asked at each Collect (lines in use change); set once at start-up.
  void set_gpio_chips(std::function<std::vector<GpioChipSummary>()> chips) { gpio_chips_ = std::move(chips); }
  // The spool's streams, asked at each Collect (snapshots: never waits for the disk).
  void set_spool_streams(std::function<std::vector<SpoolStreamSummary>()> streams) {
    spool_streams_ = std::move(streams);
  }

 private:
  std::string Path(const char* absolute) const;

  std::string board_id_;
  std::string agent_version_;
  std::string root_;
  std::chrono::steady_clock::time_point agent_start_;
  std::string container_runtime_;
  nlohmann::json container_limits_;
  std::function<std::vector<GpioChipSummary>()> gpio_chips_;
  std::function<std::vector<SpoolStreamSummary>()> spool_streams_;
};

// Parsers, exposed for tests. Each returns an empty/zero value on malformed input.
// PRETTY_NAME from os-release text, unquoted.
std::string ParseOsReleasePrettyName(const std::string& text);
// "MemTotal:  8000 kB" style value in bytes, or -1 when the key is absent.
int64_t ParseMeminfoBytes(const std::string& text, const std::string& key);

}  // namespace ew::agent::rpc
