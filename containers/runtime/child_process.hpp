// A runtime process (runc, crun, bwrap) spawned with pipes on stdin/stdout/stderr in its own
// process group, and the loop that feeds and drains it under a deadline and output caps. The
// drivers add what is specific to them (how to kill the container, what to clean up).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error/error.hpp"
#include "common/posix/unique_fd.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

// After asking the runtime to kill its container, how long before the runtime's whole process
// group gets SIGKILL (one-shot runs and warm instances alike).
inline constexpr std::chrono::milliseconds kKillGrace{5000};

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is an absolute path (no PATH search in the child)
  std::vector<std::string> env;   // the whole environment of the runtime process
  // Descriptors of cgroup.procs files (opened for writing by the caller) that the child joins
  // right after fork, before anything else runs in it: the runtime and all it forks are in the
  // container's cgroups from the start.
  std::vector<int> cgroup_procs_fds;
  // Written to /proc/self/oom_score_adj in the child (inherited by everything it forks): 1000
  // makes the kernel's OOM killer pick the function before the daemon. Unset: left as is.
  std::optional<int> oom_score_adj;
  // Runs in the child right after fork, as the caller's user: must be async-signal-safe (raw
  // syscalls only, no allocation). Returns 0 or an errno, which fails the spawn.
  std::function<int()> pre_exec;
  // Then, in this order: setgroups({}), setgid, setuid (bwrap as root runs as the function uid).
  std::optional<std::pair<uid_t, gid_t>> drop_to;
  std::vector<std::pair<int, rlim_t>> rlimits;  // (RLIMIT_*, soft = hard) set before exec
  std::vector<int> inherit_fds;  // kept open across exec under the same numbers
};

// Owns the process and the parent's ends of its pipes. Not thread-safe.
class ChildProcess {
 public:
  // Fails (Internal) when fork/pipe fail or the child cannot exec, with the errno text.
  static Result<std::unique_ptr<ChildProcess>> Spawn(const SpawnOptions& options);
  ~ChildProcess();  // SIGKILL to the process group if not reaped yet, then reaps

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  int stdin_fd() const { return stdin_fd_.get(); }    // non-blocking; -1 once closed
  int stdout_fd() const { return stdout_fd_.get(); }  // non-blocking
  int stderr_fd() const { return stderr_fd_.get(); }  // non-blocking
  void CloseStdin();
  void CloseStdout();
  void CloseStderr();
  // A descriptor that polls readable once the process has exited (a pidfd); -1 on kernels
  // without pidfd_open, then callers poll Reap() on a short period.
  int exit_fd() const { return pidfd_.get(); }

  // Sends `sig` to the runtime's process group (not to the container, which lives in its own
  // namespaces: drivers kill that themselves).
  void SignalGroup(int sig);
  // Non-blocking reap; true once the process has exited (also on later calls).
  bool Reap();
  // Blocks until reaped.
  void Wait();
  // Valid after Reap() returned true: the exit status, or 128+N when killed by signal N.
  int exit_code() const { return exit_code_; }
  bool reaped() const { return reaped_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // Writes `input` to stdin (then closes it) while collecting stdout/stderr, until the process
  // exits and both pipes are closed. Past `limits.timeout`, over `limits.max_stdout_bytes`, or when
  // `*cancel` becomes true, calls `kill_container` (repeated every second while the runtime lives),
  // and after a grace period SIGKILLs the runtime's group. Always returns with the process reaped.
  RunOutput Communicate(std::string_view input, const RunLimits& limits, const std::function<void()>& kill_container,
                        const std::atomic<bool>* cancel = nullptr);

 private:
  ChildProcess() = default;

  pid_t pid_ = -1;
  posix::UniqueFd pidfd_;
  posix::UniqueFd stdin_fd_;
  posix::UniqueFd stdout_fd_;
  posix::UniqueFd stderr_fd_;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::chrono::steady_clock::time_point started_;
};

// Runs a short helper command (e.g. `runc kill`) to completion, output discarded except the
// stderr tail, which is returned in the error. Unavailable when it exits non-zero or outlives
// `timeout` (then it is killed).
Result<void> RunHelper(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Closes `fd` if it is open and sets it to -1.
void CloseFd(int& fd);

}  // namespace ew::containers
