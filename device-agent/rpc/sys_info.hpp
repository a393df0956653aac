// Collects what `ew.board.<id>.sys.info` reports: OS, kernel, hardware model, uptime, load,
// memory and the agent's own footprint, from /proc, /sys, /etc and uname(2).
#pragma once

#include <chrono>
#include <string>

#include "edgewire/v1/board_rpc.pb.h"

namespace ew::agent::rpc {

class SysInfoCollector {
 public:
  // `root` prefixes every file read ("/" on a board; a temp dir of fake files in tests).
  // `agent_start` is when the agent started, for agent_uptime_seconds.
  SysInfoCollector(std::string board_id, std::string agent_version, std::string root = "/",
                   std::chrono::steady_clock::time_point agent_start = std::chrono::steady_clock::now());

  // Never fails: a file that is missing or unreadable leaves its fields empty or zero.
  // Reads a handful of small files; cheap enough for the io thread.
  edgewire::v1::SysInfo Collect() const;

 private:
  std::string Path(const char* absolute) const;

  std::string board_id_;
  std::string agent_version_;
  std::string root_;
  std::chrono::steady_clock::time_point agent_start_;
};

// Parsers, exposed for tests. Each returns an empty/zero value on malformed input.
// PRETTY_NAME from os-release text, unquoted.
std::string ParseOsReleasePrettyName(const std::string& text);
// "MemTotal:  8000 kB" style value in bytes, or -1 when the key is absent.
int64_t ParseMeminfoBytes(const std::string& text, const std::string& key);

}  // namespace ew::agent::rpc
