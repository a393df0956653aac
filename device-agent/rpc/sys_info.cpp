// Reads the board's state from procfs/sysfs. Values are parsed leniently: a board with an odd
// kernel must still answer sys.info, just with fewer fields.
#include "device-agent/rpc/sys_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace ew::agent::rpc {

namespace {

// Whole file, or "" when it cannot be read. procfs files report size 0, so read by stream.
std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Device-tree strings end in NUL, sysfs ones in '\n'.
std::string Trim(std::string s) {
  auto is_space = [](char c) { return c == '\0' || c == '\n' || c == '\r' || c == ' ' || c == '\t'; };
  while (!s.empty() && is_space(s.back())) s.pop_back();
  size_t start = 0;
  while (start < s.size() && is_space(s[start])) ++start;
  return s.substr(start);
}

}  // namespace

std::string ParseOsReleasePrettyName(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    static const std::string kKey = "PRETTY_NAME=";
    if (line.compare(0, kKey.size(), kKey) != 0) continue;
    std::string value = Trim(line.substr(kKey.size()));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    return value;
  }
  return "";
}

int64_t ParseMeminfoBytes(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0 || line.size() <= key.size() || line[key.size()] != ':') continue;
    std::istringstream fields(line.substr(key.size() + 1));
    int64_t value = 0;
    std::string unit;
    if (!(fields >> value)) return -1;
    fields >> unit;
    return unit == "kB" ? value * 1024 : value;
  }
  return -1;
}

SysInfoCollector::SysInfoCollector(std::string board_id, std::string agent_version, std::string root,
                                   std::chrono::steady_clock::time_point agent_start)
    : board_id_(std::move(board_id)),
      agent_version_(std::move(agent_version)),
      root_(std::move(root)),
      agent_start_(agent_start) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string SysInfoCollector::Path(const char* absolute) const { return root_ + absolute; }

SysInfo SysInfoCollector::Collect() const {
  SysInfo info;
  info.board_id = board_id_;
  info.container_runtime = container_runtime_;
  info.container_limits = container_limits_;
  info.functions_max_running = functions_max_running_;
  if (gpio_chips_) info.gpio_chips = gpio_chips_();
  if (spool_streams_) info.spool_streams = spool_streams_();
  if (session_) info.session = session_();
  if (storage_problems_) info.storage_problems = storage_problems_();
  if (package_version_) info.package_version = package_version_();
  info.agent_version = agent_version_;

  struct utsname uts {};
  if (uname(&uts) == 0) {
    info.hostname = uts.nodename;
    info.kernel = uts.release;
    info.machine = uts.machine;
  }

  std::string os = ParseOsReleasePrettyName(ReadSmallFile(Path("/etc/os-release")));
  if (os.empty()) os = ParseOsReleasePrettyName(ReadSmallFile(Path("/usr/lib/os-release")));
  info.os = os;

  // Raspberry Pi and other ARM boards describe themselves in the device tree; PCs in DMI.
  std::string hardware = Trim(ReadSmallFile(Path("/proc/device-tree/model")));
  if (hardware.empty()) hardware = Trim(ReadSmallFile(Path("/sys/class/dmi/id/product_name")));
  info.hardware = hardware;

  double uptime = 0;
  if (std::istringstream(ReadSmallFile(Path("/proc/uptime"))) >> uptime) info.uptime_seconds = uptime;
  info.agent_uptime_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - agent_start_).count();

  std::istringstream loadavg(ReadSmallFile(Path("/proc/loadavg")));
  double load = 0;
  for (int i = 0; i < 3 && (loadavg >> load); ++i) info.load_average.push_back(load);

  std::string meminfo = ReadSmallFile(Path("/proc/meminfo"));
  info.memory_total_bytes = std::max<int64_t>(0, ParseMeminfoBytes(meminfo, "MemTotal"));
  info.memory_available_bytes = std::max<int64_t>(0, ParseMeminfoBytes(meminfo, "MemAvailable"));

  // statm: size resident shared ... in pages.
  std::istringstream statm(ReadSmallFile(Path("/proc/self/statm")));
  int64_t size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages) info.agent_rss_bytes = resident_pages * sysconf(_SC_PAGESIZE);

  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  info.cpu_count = cpus > 0 ? static_cast<int32_t>(cpus) : 0;
  return info;
}

}  // namespace ew::agent::rpc
