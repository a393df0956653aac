// The bubblewrap driver, for hosts without a working OCI runtime: the sandbox is described by
// bwrap's arguments instead of a bundle. bwrap runs unprivileged (as root we drop to the
// function's uid first, so that the sandbox's uid maps to that uid on the host, not to root);
// seccomp is a libseccomp BPF program passed on a descriptor; rlimits are set on bwrap before
// exec, RLIMIT_NPROC inside the sandbox's user namespace (see Launch). bwrap cannot set cgroup
// limits: memory/cpu are not limited, processes only by RLIMIT_NPROC.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "containers/runtime/child_process.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

class BwrapDriver final : public ContainerRuntime {
 public:
  BwrapDriver(std::filesystem::path binary, const RuntimeConfig& config);

  // Runs /bin/true in a sandbox. Unavailable with bwrap's error text (e.g. unprivileged user
  // namespaces disabled on this host).
  Result<void> Probe();

  std::string_view Name() const override { return "bwrap"; }
  Result<RunOutput> Run(const ContainerSpec& spec, std::string_view input, const RunLimits& limits) override;
  Result<std::unique_ptr<ContainerProcess>> Start(const ContainerSpec& spec) override;

  class Sandbox;  // the sandbox's pid 1 (a pidfd to kill it by)

 private:
  struct Launched {
    std::unique_ptr<ChildProcess> child;
    std::shared_ptr<Sandbox> sandbox;
  };
  Result<Launched> Launch(const ContainerSpec& spec, bool die_with_parent);

  std::filesystem::path binary_;
  uint32_t uid_;
  uint32_t gid_;
  bool as_root_;
};

}  // namespace ew::containers
