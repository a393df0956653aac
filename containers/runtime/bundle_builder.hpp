// OCI bundles for runc and crun: one directory per container under work_dir/bundles holding
// config.json, whose root is a shared, read-only skeleton (empty mount points and the host's
// top-level links) created once under work_dir/rootfs.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <mutex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

class BundleBuilder {
 public:
  // `uid`/`gid`: the function's identity when this process is root and the spec names none. Rootless, the daemon's uid
  // and gid are mapped to the container's root instead (the only mapping runc/crun accept
  // without setuid helpers), which has no capabilities.
  BundleBuilder(std::filesystem::path work_dir, uint32_t uid, uint32_t gid);

  // Creates work_dir (0700), work_dir/bundles and the skeleton. Idempotent; Internal on I/O errors.
  Result<void> Prepare();

  // The config.json for `spec`. `with_resources` false leaves out linux.resources (cgroup limits)
  // for hosts whose cgroups cannot take them.
  nlohmann::json Config(const ContainerSpec& spec, bool with_resources) const;

  // Writes work_dir/bundles/<id>/config.json (and creates mount points of extra mounts in the
  // skeleton). Conflict when a bundle of that id exists; InvalidArgument for a bad spec.
  Result<std::filesystem::path> Build(const ContainerSpec& spec, bool with_resources);
  // Removes a bundle directory; errors are logged, not returned.
  void Remove(const std::filesystem::path& bundle) const;

  const std::filesystem::path& work_dir() const { return work_dir_; }
  const std::filesystem::path& skeleton() const { return skeleton_; }
  bool rootless() const { return rootless_; }

 private:
  Result<void> EnsureMountPoint(const BindMount& mount);

  std::filesystem::path work_dir_;
  std::filesystem::path skeleton_;
  std::filesystem::path bundles_;
  uint32_t uid_;
  uint32_t gid_;
  bool rootless_;
  std::mutex mutex_;
  std::set<std::string> mount_points_;  // GUARDED_BY(mutex_): extra mount points already created
};

}  // namespace ew::containers
