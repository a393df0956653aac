// What every sandbox holds, whichever runtime builds it: the host's top-level /bin, /lib*, /sbin
// (symlinks into /usr on merged-/usr hosts), the function's environment, the /tmp size, and
// the host files a networked function needs. Shared by the OCI bundle and the bwrap arguments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error/error.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers::sandbox {

inline constexpr const char* kCodeMount = "/fn";
inline constexpr const char* kHostname = "fn";
inline constexpr const char* kWorkingDir = "/tmp";
// PATH unless the spec sets one.
inline constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
// Mount points that every root skeleton has, in addition to the top-level entries. run and opt
// hold the GPIO broker's mounts (/run/edgewire, /opt/edgewire): made here with the skeleton's
// modes, so that the function's uid can traverse them whatever the daemon's umask.
inline constexpr const char* kSkeletonDirs[] = {"usr", "fn", "tmp", "proc", "dev", "etc", "run", "opt"};

// A top-level entry of the host's root that the sandbox mirrors: a symlink (target relative,
// e.g. "usr/bin") or a directory to bind read-only (/lib64 on a host without merged /usr).
struct RootEntry {
  std::string name;         // "/bin"
  std::string link_target;  // "usr/bin"; empty for a directory
};

// /bin, /sbin, /lib, /lib32, /lib64, /libx32 as this host has them (missing ones left out).
const std::vector<RootEntry>& HostRootEntries();

// Host files bound read-only into networked sandboxes so that name resolution works
// (/etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf where present). The rest of /etc stays hidden.
const std::vector<std::string>& NetworkFiles();

// PATH, HOME=/tmp, LANG=C.UTF-8 (unless the spec sets them), then the spec's env.
std::vector<std::string> FunctionEnv(const ContainerSpec& spec);

// min(memory, 64 MiB): /tmp counts against memory in a cgroup, and never needs to be larger.
uint64_t TmpfsBytes(const ContainerSpec& spec);

// InvalidArgument for an id outside [a-zA-Z0-9_.-]{1,64}, empty argv, a mount destination that
// is not absolute, contains "..", or lands on a path the sandbox builds itself.
Result<void> ValidateSpec(const ContainerSpec& spec);

}  // namespace ew::containers::sandbox
