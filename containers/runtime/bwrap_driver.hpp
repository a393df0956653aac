// The bubblewrap driver, for hosts without a working OCI runtime: the sandbox is described by
// bwrap's arguments instead of a bundle. bwrap runs unprivileged (as root we drop to the
// function's uid first, so that the sandbox's uid maps to that uid on the host, not to root);
// seccomp is a libseccomp BPF program passed on a descriptor; rlimits are set on bwrap before
// exec, RLIMIT_NPROC inside the sandbox's user namespace (see Launch). bwrap makes no cgroups:
// the driver puts bwrap into a cgroup of its own per container (CgroupLimiter) where this
// process may create one, and otherwise limits memory by RLIMIT_DATA per process and CPU time
// by RLIMIT_CPU (reported in Limits()).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "containers/runtime/cgroup_limiter.hpp"
#include "containers/runtime/child_process.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

class BwrapDriver final : public ContainerRuntime {
 public:
  BwrapDriver(std::filesystem::path binary, const RuntimeConfig& config);

  // Sets up cgroup limits (unless config.cgroups is "off"; a host that refuses them falls back
  // to rlimits with a warning), then runs /bin/true in a sandbox. Unavailable with bwrap's
  // error text (e.g. unprivileged user namespaces disabled on this host).
  Result<void> Probe();

  std::string_view Name() const override { return "bwrap"; }
  Result<RunOutput> Run(const ContainerSpec& spec, std::string_view input, const RunLimits& limits) override;
  Result<std::unique_ptr<ContainerProcess>> Start(const ContainerSpec& spec) override;
  LimitSupport Limits() const override;
  Result<UidPool::Lease> LeaseUid() override;
  // Prepared sandboxes: bwrap's whole set-up (namespaces, mounts, cgroups, seccomp, uid) done
  // ahead; inside, the gate (the host's /bin/sh) reads one line of stdin, then execs the
  // function's argv, so the function's image and address space are new at the release. Only
  // with cgroup limits: on rlimit-only hosts RLIMIT_CPU is sized from each invocation's timeout
  // when bwrap starts, which a sandbox made ahead does not know.
  bool CanPrepare() const override { return cgroups_ != nullptr; }
  Result<std::unique_ptr<PreparedSandbox>> Prepare(const ContainerSpec& spec) override;
  Result<RunOutput> RunPrepared(std::unique_ptr<PreparedSandbox> sandbox, std::string_view input,
                                const RunLimits& limits) override;

  class Sandbox;  // the sandbox's pid 1 (a pidfd to kill it by, and to reap it)

 private:
  // What one container holds until it is gone: released in this order (sandbox reaped, then
  // its cgroups removed, then its uid returned).
  struct Held {
    std::shared_ptr<Sandbox> sandbox;
    std::unique_ptr<CgroupLimiter::Group> cgroup;
    UidPool::Lease lease;
    ~Held();
  };
  struct Launched {
    std::unique_ptr<ChildProcess> child;
    std::shared_ptr<Held> held;
  };
  // `cpu_seconds` > 0: RLIMIT_CPU for rlimit-only hosts (one-shot runs). `gated`: the function's
  // argv runs behind the gate (prepared sandboxes).
  Result<Launched> Launch(const ContainerSpec& spec, bool die_with_parent, uint64_t cpu_seconds, bool gated = false);
  // RLIMIT_CPU of a one-shot run: the timeout in CPU seconds, rounded up, plus slack.
  static uint64_t CpuSeconds(const ContainerSpec& spec, std::chrono::milliseconds timeout);
  class Prepared;

  std::filesystem::path binary_;
  uint32_t uid_;  // inside the user namespace, rootless
  uint32_t gid_;
  bool as_root_;
  std::string cgroups_mode_;
  UidPool uids_;
  std::unique_ptr<CgroupLimiter> cgroups_;  // null: rlimits only
};

}  // namespace ew::containers
