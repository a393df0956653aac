#include "containers/runtime/cgroup_limiter.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

namespace ew::containers {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kCpuPeriodUs = 100'000;
// How long the destructor tries to empty and remove a group (processes take a moment to exit
// after SIGKILL).
constexpr std::chrono::milliseconds kRemoveFor{2000};
constexpr std::chrono::milliseconds kRemoveRetry{5};

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `value` to a cgroup control file; the errno text when the kernel refuses.
Result<void> WriteControl(const fs::path& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Internal("cannot open " + path.string() + ": " + std::strerror(errno));
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return Internal("cannot write '" + value + "' to " + path.string() + ": " + std::strerror(err));
  }
  return Ok();
}

struct Mount {
  fs::path point;
  std::string fstype;
  std::vector<std::string> options;  // super options: "rw", "memory", ...
};

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, separator);) out.push_back(item);
  return out;
}

// cgroup and cgroup2 mounts of this mount namespace, from /proc/self/mountinfo.
std::vector<Mount> CgroupMounts() {
  std::vector<Mount> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::stringstream before(line.substr(0, dash)), after(line.substr(dash + 3));
    std::string id, parent, device, root, point, fstype, source, options;
    before >> id >> parent >> device >> root >> point;
    after >> fstype >> source >> options;
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    out.push_back({point, fstype, Split(options, ',')});
  }
  return out;
}

// This process's cgroup in the hierarchy with `controller` ("" for the v2 line "0::").
std::string OwnCgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    auto controllers = Split(line.substr(first + 1, second - first - 1), ',');
    bool match = controller.empty() ? line.compare(0, first, "0") == 0 && controllers.empty()
                                    : std::find(controllers.begin(), controllers.end(), controller) != controllers.end();
    if (match) return line.substr(second + 1);
  }
  return "";
}

fs::path Join(const fs::path& mount, const std::string& cgroup) {
  return cgroup.empty() || cgroup == "/" ? mount : mount / fs::path(cgroup).relative_path();
}

Result<void> MakeDir(const fs::path& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Internal("cannot create " + dir.string() + ": " + std::strerror(errno));
  }
  return Ok();
}

bool Contains(const std::string& list, const std::string& word) {
  auto words = Split(list.substr(0, list.find('\n')), ' ');
  return std::find(words.begin(), words.end(), word) != words.end();
}

// v2: `base` = <own cgroup>/<name>, with memory, pids (and cpu) enabled for its children.
// The "no internal processes" rule forbids enabling controllers below a cgroup that holds
// processes: when the daemon sits alone in its (delegated) cgroup, it moves into a leaf
// "<own>/daemon" first, as systemd's delegation documentation prescribes.
Result<fs::path> PrepareV2(const fs::path& mount, const std::string& name, bool& with_cpu) {
  const fs::path own = Join(mount, OwnCgroup(""));
  const std::string available = ReadText(own / "cgroup.controllers");
  if (!Contains(available, "memory") || !Contains(available, "pids")) {
    return Unavailable("cgroup v2: memory and pids controllers are not delegated to " + own.string());
  }
  with_cpu = Contains(available, "cpu");
  const std::string enable = with_cpu ? "+memory +pids +cpu" : "+memory +pids";
  if (!WriteControl(own / "cgroup.subtree_control", enable)) {
    const fs::path leaf = own / "daemon";
    EW_TRY_VOID(MakeDir(leaf));
    EW_TRY_VOID(WriteControl(leaf / "cgroup.procs", std::to_string(getpid())));
    EW_TRY_VOID(WriteControl(own / "cgroup.subtree_control", enable));
  }
  const fs::path base = own / name;
  EW_TRY_VOID(MakeDir(base));
  EW_TRY_VOID(WriteControl(base / "cgroup.subtree_control", enable));
  return base;
}

// v1: <controller mount>/<own cgroup>/<name>; empty when the controller is not mounted.
Result<fs::path> PrepareV1(const std::vector<Mount>& mounts, const std::string& controller, const std::string& name) {
  for (const auto& m : mounts) {
    if (m.fstype != "cgroup" || std::find(m.options.begin(), m.options.end(), controller) == m.options.end()) continue;
    const fs::path base = Join(m.point, OwnCgroup(controller)) / name;
    EW_TRY_VOID(MakeDir(base));
    return base;
  }
  return fs::path();
}

void KillAll(const fs::path& dir) {
  std::ifstream in(dir / "cgroup.procs");
  for (pid_t pid; in >> pid;) {
    if (pid > 0) kill(pid, SIGKILL);
  }
}

}  // namespace

Result<std::unique_ptr<CgroupLimiter>> CgroupLimiter::Probe(const std::string& name) {
  auto mounts = CgroupMounts();
  std::string why_not_v2 = "no cgroup2 mount";
  std::unique_ptr<CgroupLimiter> limiter(new CgroupLimiter());
  for (const auto& m : mounts) {
    if (m.fstype != "cgroup2") continue;
    bool with_cpu = false;
    auto base = PrepareV2(m.point, name, with_cpu);
    if (!base) {
      why_not_v2 = base.error().message;
      continue;
    }
    limiter->v2_ = true;
    limiter->memory_base_ = limiter->pids_base_ = *base;
    if (with_cpu) limiter->cpu_base_ = *base;
    break;
  }
  if (!limiter->v2_) {
    auto memory = PrepareV1(mounts, "memory", name);
    auto pids = PrepareV1(mounts, "pids", name);
    if (!memory || !pids || memory->empty() || pids->empty()) {
      std::string why = !memory ? memory.error().message : !pids ? pids.error().message : "no memory/pids hierarchy";
      return Unavailable(why_not_v2 + "; cgroup v1: " + why);
    }
    limiter->memory_base_ = *memory;
    limiter->pids_base_ = *pids;
    if (auto cpu = PrepareV1(mounts, "cpu", name); cpu) limiter->cpu_base_ = *cpu;
  }
  // Proof: a group with limits can be made and removed.
  ContainerSpec probe;
  probe.memory_bytes = 64ull << 20;
  EW_TRY(auto group, limiter->Create("probe-" + std::to_string(getpid()), probe));
  group.reset();
  return limiter;
}

Result<std::unique_ptr<CgroupLimiter::Group>> CgroupLimiter::Create(const std::string& id,
                                                                   const ContainerSpec& spec) const {
  std::unique_ptr<Group> group(new Group());
  group->v2_ = v2_;
  const auto quota = static_cast<int64_t>(spec.cpus * kCpuPeriodUs);
  auto make = [&](const fs::path& base) -> Result<fs::path> {
    const fs::path dir = base / id;
    // A group left by a daemon that crashed (ids embed the pid, so a reused pid) goes first.
    if (mkdir(dir.c_str(), 0755) != 0 && !(errno == EEXIST && rmdir(dir.c_str()) == 0 && mkdir(dir.c_str(), 0755) == 0)) {
      return Internal("cannot create " + dir.string() + ": " + std::strerror(errno));
    }
    group->dirs_.push_back(dir);
    return dir;
  };
  if (v2_) {
    EW_TRY(auto dir, make(memory_base_));
    group->memory_dir_ = dir;
    EW_TRY_VOID(WriteControl(dir / "memory.max", std::to_string(spec.memory_bytes)));
    if (fs::exists(dir / "memory.swap.max")) EW_TRY_VOID(WriteControl(dir / "memory.swap.max", "0"));
    EW_TRY_VOID(WriteControl(dir / "pids.max", std::to_string(spec.pids_limit)));
    if (has_cpu() && quota > 0) {
      EW_TRY_VOID(WriteControl(dir / "cpu.max", std::to_string(quota) + " " + std::to_string(kCpuPeriodUs)));
    }
  } else {
    EW_TRY(auto memory, make(memory_base_));
    group->memory_dir_ = memory;
    EW_TRY_VOID(WriteControl(memory / "memory.limit_in_bytes", std::to_string(spec.memory_bytes)));
    // Swap counts too where the host accounts it (memsw must stay >= the limit: set after).
    if (fs::exists(memory / "memory.memsw.limit_in_bytes")) {
      EW_TRY_VOID(WriteControl(memory / "memory.memsw.limit_in_bytes", std::to_string(spec.memory_bytes)));
    }
    EW_TRY(auto pids, make(pids_base_));
    EW_TRY_VOID(WriteControl(pids / "pids.max", std::to_string(spec.pids_limit)));
    if (has_cpu() && quota > 0) {
      EW_TRY(auto cpu, make(cpu_base_));
      EW_TRY_VOID(WriteControl(cpu / "cpu.cfs_period_us", std::to_string(kCpuPeriodUs)));
      EW_TRY_VOID(WriteControl(cpu / "cpu.cfs_quota_us", std::to_string(quota)));
    }
  }
  for (const auto& dir : group->dirs_) {
    int fd = open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Internal("cannot open " + (dir / "cgroup.procs").string() + ": " + std::strerror(errno));
    group->procs_fds_.push_back(fd);
  }
  return group;
}

bool CgroupLimiter::Group::OomKilled() const {
  if (memory_dir_.empty()) return false;
  std::ifstream in(memory_dir_ / (v2_ ? "memory.events" : "memory.oom_control"));
  for (std::string key; in >> key;) {
    uint64_t value = 0;
    if (!(in >> value)) break;
    if (key == "oom_kill" && value > 0) return true;
  }
  return false;
}

void CgroupLimiter::Group::CloseProcsFds() {
  for (int fd : procs_fds_) close(fd);
  procs_fds_.clear();
}

CgroupLimiter::Group::~Group() {
  CloseProcsFds();
  const auto deadline = std::chrono::steady_clock::now() + kRemoveFor;
  for (const auto& dir : dirs_) {
    // v2 >= 5.14 kills a whole group at once; otherwise each process it lists.
    if (v2_ && fs::exists(dir / "cgroup.kill")) (void)WriteControl(dir / "cgroup.kill", "1");
    while (rmdir(dir.c_str()) != 0 && errno == EBUSY && std::chrono::steady_clock::now() < deadline) {
      KillAll(dir);
      std::this_thread::sleep_for(kRemoveRetry);  // the kernel finishes the exits
    }
  }
}

}  // namespace ew::containers
