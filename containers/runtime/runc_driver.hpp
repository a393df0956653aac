// The OCI runtimes' driver: `runc run --bundle B ID` (crun takes the same command line) with the
// function's stdio on pipes. A timeout is `runc kill ID KILL`; state left by a runtime that was
// itself killed goes with `runc delete -f ID`; the bundle directory is always removed.
#pragma once

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "containers/runtime/bundle_builder.hpp"
#include "containers/runtime/child_process.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

class RuncDriver final : public ContainerRuntime {
 public:
  // `name` is "runc" or "crun", `binary` its absolute path.
  RuncDriver(std::string name, std::filesystem::path binary, const RuntimeConfig& config);

  // Prepares the work directory, deletes what a killed daemon left in it (SweepOrphans), and
  // runs /bin/true in a container: with cgroup limits, then,
  // if that fails for a cgroup reason, without them (and warns that limits are off on this
  // host). Unavailable with the runtime's own error text when it cannot run a container.
  Result<void> Probe();
  bool has_cgroup_limits() const { return cgroup_limits_.load(); }

  std::string_view Name() const override { return name_; }
  Result<RunOutput> Run(const ContainerSpec& spec, std::string_view input, const RunLimits& limits) override;
  Result<std::unique_ptr<ContainerProcess>> Start(const ContainerSpec& spec) override;
  LimitSupport Limits() const override;
  Result<UidPool::Lease> LeaseUid() override;

 private:
  struct Launched {
    std::unique_ptr<ChildProcess> child;
    std::filesystem::path bundle;
    std::shared_ptr<UidPool::Lease> lease;  // the container's uid, when the runtime leased it
  };
  Result<Launched> Launch(const ContainerSpec& spec);
  Result<RunOutput> RunOnce(const ContainerSpec& spec, std::string_view input, const RunLimits& limits,
                            std::string* runtime_error);
  std::vector<std::string> GlobalArgs(const std::filesystem::path& bundle) const;
  void KillContainer(const std::string& id) const;
  // Containers and bundles of an earlier run of this daemon that was killed (kill -9, power
  // loss) with functions running: `delete -f` each container (killing it), remove each bundle.
  // The work directory belongs to one daemon, so nothing there is anyone else's.
  void SweepOrphans() const;
  // Deletes runtime state left behind (if any) and the bundle.
  void Cleanup(const std::string& id, const std::filesystem::path& bundle) const;
  // The runtime's error messages from its JSON log, "" when it logged none.
  static std::string RuntimeError(const std::filesystem::path& bundle);
  void DisableCgroupLimits(const std::string& why);

  std::string name_;
  std::filesystem::path binary_;
  std::filesystem::path state_dir_;
  BundleBuilder bundles_;
  UidPool uids_;
  std::atomic<bool> cgroup_limits_{true};
  std::once_flag cgroup_warning_;
};

}  // namespace ew::containers
