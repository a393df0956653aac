// One interface over the OCI runtimes (crun, runc) and bubblewrap. MakeContainerRuntime picks
// the cheapest that works on this host without leaving a limit unenforced (crun fails on
// hybrid-cgroup hosts), and callers never branch on which one it is. Every container gets: a read-only root made of the host's /usr
// (+ /bin, /lib* links), code read-only at /fn, tmpfs /tmp, own pid/mount/ipc/uts/net
// namespaces (no network unless asked), a uid of its own (as root: leased from a range for the
// container's lifetime, never the daemon's), no capabilities, no_new_privileges, a seccomp deny
// list, oom_score_adj 1000, and memory/pids/cpu limits: cgroups where the host allows, rlimits
// otherwise. What a runtime cannot enforce on this host it says in Limits(), never silently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "containers/runtime/uid_pool.hpp"

namespace ew::containers {

struct BindMount {
  std::filesystem::path source;  // on the host
  std::string destination;       // inside the container
  bool read_only = true;
  // A unix socket lives below (the GPIO broker's): bound as it is, since a connect does not
  // pass through the overlay that otherwise hides a directory's host path (its owner makes it
  // a filesystem root of its own instead).
  bool has_sockets = false;
};

struct ContainerSpec {
  std::string id;                      // unique among running containers: [a-zA-Z0-9_.-]{1,64}
  std::filesystem::path code_dir;      // mounted read-only at /fn (none when empty)
  std::vector<std::string> argv;       // e.g. {"/bin/sh", "/fn/main.sh"}
  std::vector<std::string> env;        // "KEY=value"; PATH, HOME=/tmp, LANG=C.UTF-8 are added
  uint64_t memory_bytes = 64ull << 20;
  uint32_t pids_limit = 64;
  double cpus = 1.0;                   // CPU quota in cores (cgroup cpu.max), where available
  bool network = false;                // true: share the host's network namespace
  std::vector<BindMount> extra_mounts; // e.g. the GPIO broker's socket
  // Host uid (and gid of the same number) of the function's processes, from LeaseUid(), for a
  // caller that must know it before the container starts (the GPIO broker checks its peer's).
  // Unset: the runtime leases one for this container alone.
  std::optional<uint32_t> uid;
};

// How a runtime enforces each ContainerSpec limit on this host, in words ("cgroup v1",
// "RLIMIT_DATA per process"); empty when it does not. sys.info and deploy results show it.
struct LimitSupport {
  std::string memory;  // memory_bytes
  std::string pids;    // pids_limit
  std::string cpu;     // cpus (a rate: only a cgroup CPU quota counts)
  std::string uid;     // each container under a uid of its own, not the daemon's
};

// "memory", "pids", "cpu", "uid": those `support` leaves unenforced, in that order.
std::vector<std::string> Unenforced(const LimitSupport& support);
// {"memory": "cgroup v1", "pids": ..., "cpu": "", "uid": ...} ("" for an unenforced limit; the
// proto3 JSON form of edgewire.v1.ContainerLimits).
nlohmann::json ToJson(const LimitSupport& support);

struct RunLimits {
  std::chrono::milliseconds timeout{10'000};  // then the container and all its processes are killed
  size_t max_stdout_bytes = 1u << 20;         // beyond: stop reading, kill, report truncation
  size_t max_stderr_bytes = 256u << 10;       // beyond: keep the first bytes, drop the rest
  // When set and it becomes true, the container is killed as on a timeout (checked every 50 ms);
  // the owner of a runtime uses it to stop running invocations at shutdown.
  const std::atomic<bool>* cancel = nullptr;
};

struct RunOutput {
  int exit_code = -1;           // 128+N when killed by signal N
  bool timed_out = false;
  bool stdout_truncated = false;  // the container was killed for writing too much
  bool stderr_truncated = false;
  std::string stdout_data;
  std::string stderr_data;
  std::chrono::microseconds wall{0};  // from spawning the runtime to reaping it
};

// A long-lived container for warm mode: requests in on stdin, one JSON line out per request.
// Not thread-safe: the warm pool gives an instance to one caller at a time. Must not outlive the
// ContainerRuntime that started it.
class ContainerProcess {
 public:
  virtual ~ContainerProcess() = default;  // kills and removes the container
  // Writes `line` (which must not contain '\n') plus '\n' and waits for one line of output.
  // DeadlineExceeded after `timeout` (the instance is then killed), Unavailable if the process
  // has exited (its stderr tail in the message) or answered before the request was all written
  // (killed), ResourceExhausted for a line over `max_bytes`. One line out per line in is checked
  // as far as the output already read shows: Conflict, before anything is written, for output
  // left after the last answer (killed; the request can go to another instance); an answer with
  // more output read behind it stands, and the instance is killed. A second line that comes
  // only after the next request was written cannot be told from that request's answer.
  // `cancel` (may be null) is the caller's flag, looked at every tick while it waits: once it is
  // true the instance is killed and the call fails with Cancelled, as after Cancel(). A flag
  // already set on entry fails the call at once and leaves the instance alive (nothing written).
  virtual Result<std::string> Exchange(std::string_view line, std::chrono::milliseconds timeout, size_t max_bytes,
                                       const std::atomic<bool>* cancel) = 0;
  // What the process wrote to stderr since the last call (capped), for the invocation's logs.
  virtual std::string TakeLogs() = 0;
  virtual bool IsAlive() = 0;
  // Thread-safe, the one call another thread may make: a pending or later Exchange kills the
  // instance and fails with Cancelled. For shutting down while a caller waits on an answer.
  virtual void Cancel() = 0;
};

// A sandbox made ahead of its invocation (the sandbox pool of cold functions): namespaces,
// mounts, cgroups, seccomp and uid are in place, and a gate inside it waits for the first line
// of stdin before it forks the function's argv. It serves exactly one invocation
// (ContainerRuntime::RunPrepared consumes it); destroying an unused one kills it and releases
// what it holds. Not thread-safe; must not outlive the runtime that prepared it.
class PreparedSandbox {
 public:
  virtual ~PreparedSandbox() = default;
  virtual const ContainerSpec& spec() const = 0;  // the spec it was prepared for
};

class ContainerRuntime {
 public:
  virtual ~ContainerRuntime() = default;
  virtual std::string_view Name() const = 0;  // "crun", "runc" or "bwrap"
  // Runs one container to completion, `input` on its stdin. Blocks: call from a worker thread.
  // Errors only for failures of the runtime itself (Unavailable, Internal); what the function
  // does (exit code, timeout, output) is in RunOutput.
  virtual Result<RunOutput> Run(const ContainerSpec& spec, std::string_view input, const RunLimits& limits) = 0;
  // Starts a warm-mode container. Blocks until it is spawned, not until it is ready.
  virtual Result<std::unique_ptr<ContainerProcess>> Start(const ContainerSpec& spec) = 0;
  // What this runtime enforces of a spec's limits on this host (fixed once probed).
  virtual LimitSupport Limits() const = 0;
  // The host uid a container will run as when its spec carries the lease's uid: a uid of the
  // range as root (ResourceExhausted when all are in use), the daemon's own uid rootless (an
  // unlocked lease). Thread-safe. Keep the lease until the container is gone.
  virtual Result<UidPool::Lease> LeaseUid() = 0;

  // Whether Prepare works (bwrap's sandboxes can be made ahead; an OCI runtime's `run` cannot
  // be split without a second invocation of the runtime, which costs what it would save).
  virtual bool CanPrepare() const { return false; }
  // Makes the sandbox `spec` describes, with the same isolation as Run gives it, and leaves its
  // function unstarted. Blocks; Unavailable when the runtime fails, InvalidArgument for a bad
  // spec, Unavailable too where CanPrepare() is false. The gate is one more process of the
  // sandbox: the pids limit is raised by one for it.
  virtual Result<std::unique_ptr<PreparedSandbox>> Prepare(const ContainerSpec& spec);
  // Releases the gate: the function's argv starts as a new process in `sandbox`, `input` on its
  // stdin, and runs to completion as under Run (same limits; `wall` counts from the release).
  // `sandbox` must come from this runtime's Prepare. Errors as Run's; Unavailable too when the
  // prepared sandbox died while it waited (the caller may run the invocation cold instead).
  virtual Result<RunOutput> RunPrepared(std::unique_ptr<PreparedSandbox> sandbox, std::string_view input,
                                        const RunLimits& limits);
};

struct RuntimeConfig {
  // "auto": bwrap when it enforces every limit here (cgroups; own uid as root), else crun,
  // then runc, then bwrap with what it lacks reported; or one of them to force it (error if
  // it fails).
  std::string preferred = "auto";
  // Bundles and the shared read-only root skeleton live here (created 0700).
  std::filesystem::path work_dir = "/run/edgewire/containers";
  // Rootless, the daemon's own uid is mapped to this uid (and gid) in the container's user
  // namespace; as root, functions run as uids of the range below instead.
  uint32_t uid = 65534;
  uint32_t gid = 65534;
  // As root, each container runs as a host uid of [uid_first, uid_first + uid_count) of its own
  // (gid of the same number), leased for its lifetime through lock files in uid_lock_dir,
  // which every daemon of the host must share (agents and conductor draw from one range).
  // Keep the range out of /etc/subuid and of real users' uids.
  uint32_t uid_first = 1'000'000;
  uint32_t uid_count = 65'536;
  std::filesystem::path uid_lock_dir = "/run/edgewire/uids";
  // "auto": bwrap makes a cgroup per container where this process may (cgroup v2 delegated or
  // v1 as root), rlimits otherwise; "off": rlimits only (hosts where cgroups must be left
  // alone, and tests of the fallback).
  std::string cgroups = "auto";
};

// Probes the runtimes by running a trivial container with each, logs which one is used and why
// the others were skipped. Unavailable naming every failure when none works.
Result<std::unique_ptr<ContainerRuntime>> MakeContainerRuntime(const RuntimeConfig& config);

}  // namespace ew::containers
