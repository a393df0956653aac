// Per-container cgroups for a runtime that makes none itself (bwrap): memory, pids and CPU
// limits in cgroups created for one container under this daemon's own cgroup, on cgroup v2 or,
// failing that, v1 (hybrid hosts such as Debian 11/12 under some container managers). Created
// before the runtime is spawned, joined by the runtime process right after fork (so bwrap
// and all it forks are inside), killed and removed when the container is gone.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/error/error.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

class CgroupLimiter {
 public:
  // One container's cgroups (one per v1 controller, one on v2). The destructor kills whatever
  // still runs in them and removes them.
  class Group {
   public:
    ~Group();
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;
    // cgroup.procs descriptors (write-only, close-on-exec) for SpawnOptions::cgroup_procs_fds.
    const std::vector<int>& procs_fds() const { return procs_fds_; }
    // Once the runtime has joined (spawned with procs_fds()): they are not needed any more, and
    // a prepared sandbox would otherwise hold one per controller while it waits.
    void CloseProcsFds();
    // True when the kernel's OOM killer acted in this group (v2 memory.events oom_kill, v1
    // memory.oom_control oom_kill).
    bool OomKilled() const;

   private:
    friend class CgroupLimiter;
    Group() = default;
    std::vector<std::filesystem::path> dirs_;
    std::vector<int> procs_fds_;
    std::filesystem::path memory_dir_;
    bool v2_ = false;
  };

  // Finds a hierarchy where this process may create cgroups with a memory and a pids
  // controller (cpu where present), and proves it by making and removing one. Unavailable with
  // the reason otherwise (not root and no delegated v2 subtree, read-only /sys/fs/cgroup, ...).
  // `name` is the directory made under the daemon's own cgroup for its containers.
  static Result<std::unique_ptr<CgroupLimiter>> Probe(const std::string& name = "edgewire-fn");

  // Creates the cgroups of container `id` with spec's memory_bytes (swap included where the
  // host accounts it), pids_limit and cpus. Internal when the kernel refuses.
  Result<std::unique_ptr<Group>> Create(const std::string& id, const ContainerSpec& spec) const;

  // "cgroup v2" or "cgroup v1".
  std::string version() const { return v2_ ? "cgroup v2" : "cgroup v1"; }
  bool has_cpu() const { return !cpu_base_.empty(); }

 private:
  CgroupLimiter() = default;
  bool v2_ = false;
  // v2: all three are the same directory. v1: one per controller hierarchy.
  std::filesystem::path memory_base_;
  std::filesystem::path pids_base_;
  std::filesystem::path cpu_base_;  // empty: no cpu controller to use
};

}  // namespace ew::containers
