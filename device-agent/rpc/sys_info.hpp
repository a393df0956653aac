// Collects what `ew.board.<id>.sys.info` reports: OS, kernel, hardware model, uptime, load,
// memory and the agent's own footprint, from /proc, /sys, /etc and uname(2).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/contract/sys.hpp"

namespace ew::agent::rpc {

// What sys.info reports is the contract's (common/contract/sys.hpp): a plain struct of the
// fields of edgewire.v1.SysInfo, printed as proto3 JSON without protobuf.
using GpioChipSummary = contract::sys::GpioChipSummary;
using SysInfo = contract::sys::SysInfo;
using SpoolStreamSummary = contract::sys::SpoolStreamSummary;
using SessionSummary = contract::sys::SessionSummary;

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
  // [functions] max_running, reported so that the conductor's placement keeps to it.
  void set_functions_max_running(int32_t cap) { functions_max_running_ = cap; }
  // The board's GPIO chips, asked at each Collect (lines in use change); set once at start-up.
  void set_gpio_chips(std::function<std::vector<GpioChipSummary>()> chips) { gpio_chips_ = std::move(chips); }
  // The spool's streams, asked at each Collect (snapshots: never waits for the disk).
  // The session with the conductor (state, last disconnect reason), read at each sys.info.
  void set_session(std::function<SessionSummary()> session) { session_ = std::move(session); }
  void set_spool_streams(std::function<std::vector<SpoolStreamSummary>()> streams) {
    spool_streams_ = std::move(streams);
  }
  // The directories the agent cannot write, asked at each Collect (storage::StorageCheck).
  void set_storage_problems(std::function<std::vector<std::string>()> problems) {
    storage_problems_ = std::move(problems);
  }
  // The installed package's version (issue 16 updates: the update helper's record), asked at
  // each Collect.
  void set_package_version(std::function<std::string()> version) { package_version_ = std::move(version); }

 private:
  std::string Path(const char* absolute) const;

  std::string board_id_;
  std::string agent_version_;
  std::string root_;
  std::chrono::steady_clock::time_point agent_start_;
  std::string container_runtime_;
  nlohmann::json container_limits_;
  int32_t functions_max_running_ = 0;
  std::function<std::vector<GpioChipSummary>()> gpio_chips_;
  std::function<std::string()> package_version_;
  std::function<std::vector<SpoolStreamSummary>()> spool_streams_;
  std::function<SessionSummary()> session_;
  std::function<std::vector<std::string>()> storage_problems_;
};

// Parsers, exposed for tests. Each returns an empty/zero value on malformed input.
// PRETTY_NAME from os-release text, unquoted.
std::string ParseOsReleasePrettyName(const std::string& text);
// "MemTotal:  8000 kB" style value in bytes, or -1 when the key is absent.
int64_t ParseMeminfoBytes(const std::string& text, const std::string& key);

}  // namespace ew::agent::rpc
