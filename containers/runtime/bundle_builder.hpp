// OCI bundles for runc and crun: one directory per container under work_dir/bundles holding
// config.json, whose root is a shared, read-only skeleton (empty mount points and the host's
// top-level links) created once under work_dir/rootfs.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

// Where the runtime finds the root and the directory bind sources when it runs in a private
// mount namespace whose <bundle>/stage holds read-only overlays of them (RuncDriver, as root):
// a bind mount shows its host path in the container's mountinfo, an overlay shows "/".
struct StagedSources {
  std::filesystem::path root;                                    // overlay of the skeleton
  std::map<std::filesystem::path, std::filesystem::path> overlays;  // host source → its overlay
};

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
  // `staged`: the root and sources as the runtime will see them (null: the host's).
  nlohmann::json Config(const ContainerSpec& spec, bool with_resources, const StagedSources* staged = nullptr) const;

  // Writes work_dir/bundles/<id>/config.json (and creates mount points of extra mounts in the
  // skeleton). Conflict when a bundle of that id exists; InvalidArgument for a bad spec.
  Result<std::filesystem::path> Build(const ContainerSpec& spec, bool with_resources,
                                      const StagedSources* staged = nullptr);
  // work_dir/bundles/<id>: where Build puts the bundle of container `id`.
  std::filesystem::path BundleDir(const std::string& id) const { return bundles_ / id; }
  // Removes a bundle directory; errors are logged, not returned.
  void Remove(const std::filesystem::path& bundle) const;

  const std::filesystem::path& work_dir() const { return work_dir_; }
  const std::filesystem::path& skeleton() const { return skeleton_; }
  bool rootless() const { return rootless_; }
  // Where bundles are made (<work_dir>/bundles): one directory per container id.
  const std::filesystem::path& bundles_dir() const { return bundles_; }

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
