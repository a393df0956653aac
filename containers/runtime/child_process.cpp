#include "containers/runtime/child_process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "common/posix/poll.hpp"
#include "containers/runtime/child_reaper.hpp"

namespace ew::containers {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Between repeated kill requests: the first may come before the container exists.
constexpr milliseconds kKillRetry{1000};
// Once the runtime is reaped, how long its pipes may stay open (held by a stray process).
constexpr milliseconds kDrainAfterExit{2000};
// Poll period when a cancel flag is watched, or when the kernel has no pidfd.
constexpr milliseconds kTick{50};

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Writing to the stdin of a process that died raises SIGPIPE. Daemons usually ignore it, but a
// library must not rely on that: block it in this thread while we write, and swallow a pending one.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~ScopedSigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    timespec zero{0, 0};
    while (sigtimedwait(&set, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
};

// Closes every descriptor >= 3 except those in `keep` (sorted), without allocating.
void CloseOtherFds(const std::vector<int>& keep) {
  int from = 3;
  for (int fd : keep) {
    if (fd < from) continue;
    if (fd > from) syscall(SYS_close_range, static_cast<unsigned>(from), static_cast<unsigned>(fd - 1), 0u);
    from = fd + 1;
  }
  if (syscall(SYS_close_range, static_cast<unsigned>(from), ~0u, 0u) != 0) {
    // Kernels before 5.9: close one by one up to the descriptor limit.
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = from; fd < max && fd < 65536; ++fd) close(static_cast<int>(fd));
  }
}

// What failed in the child, reported to the parent with the errno.
enum ChildStage : int { kStageStdio, kStageCgroup, kStageOomScore, kStagePreExec, kStageCredentials, kStageRlimits, kStageExec };

const char* StageText(int stage) {
  switch (stage) {
    case kStageStdio: return "setting up stdio";
    case kStageCgroup: return "joining the container's cgroup";
    case kStageOomScore: return "setting oom_score_adj";
    case kStagePreExec: return "preparing the sandbox";
    case kStageCredentials: return "dropping privileges";
    case kStageRlimits: return "setting rlimits";
    default: return "exec";
  }
}

// Decimal text of `value` into `out` (at least 12 bytes), without printf (not async-signal-safe).
int FormatInt(int value, char* out) {
  char digits[12];
  int n = 0;
  unsigned magnitude = value < 0 ? 0u - static_cast<unsigned>(value) : static_cast<unsigned>(value);
  do {
    digits[n++] = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  int length = 0;
  if (value < 0) out[length++] = '-';
  while (n > 0) out[length++] = digits[--n];
  return length;
}

[[noreturn]] void ChildFail(int err_fd, ChildStage stage, int err) {
  int report[2] = {stage, err};
  ssize_t ignored = write(err_fd, report, sizeof(report));
  (void)ignored;
  _exit(127);
}

// Everything between fork and exec: async-signal-safe calls only.
[[noreturn]] void RunChild(const SpawnOptions& options, char* const* argv, char* const* envp, int in_fd, int out_fd,
                           int err_out_fd, int err_fd, const std::vector<int>& keep) {
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < 32; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  if (setsid() < 0) ChildFail(err_fd, kStageStdio, errno);
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_out_fd, 2) < 0) ChildFail(err_fd, kStageStdio, errno);
  for (int fd : options.cgroup_procs_fds) {
    // "0" is the writing process (v1 and v2).
    if (write(fd, "0", 1) != 1) ChildFail(err_fd, kStageCgroup, errno);
  }
  if (options.oom_score_adj) {
    char text[16];
    int length = FormatInt(*options.oom_score_adj, text);
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, static_cast<size_t>(length)) != length) ChildFail(err_fd, kStageOomScore, errno);
    close(fd);
  }
  if (options.pre_exec) {
    if (int err = options.pre_exec(); err != 0) ChildFail(err_fd, kStagePreExec, err);
  }
  if (options.drop_to) {
    if (setgroups(0, nullptr) != 0) ChildFail(err_fd, kStageCredentials, errno);
    if (setgid(options.drop_to->second) != 0) ChildFail(err_fd, kStageCredentials, errno);
    if (setuid(options.drop_to->first) != 0) ChildFail(err_fd, kStageCredentials, errno);
  }
  for (const auto& [resource, value] : options.rlimits) {
    struct rlimit limit{value, value};
    if (setrlimit(resource, &limit) != 0) ChildFail(err_fd, kStageRlimits, errno);
  }
  for (int fd : options.inherit_fds) {
    if (fcntl(fd, F_SETFD, 0) != 0) ChildFail(err_fd, kStageStdio, errno);
  }
  CloseOtherFds(keep);
  execve(argv[0], argv, envp);
  ChildFail(err_fd, kStageExec, errno);
}

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::string ErrnoText(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

}  // namespace

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv[0].empty() || options.argv[0][0] != '/') {
    return InvalidArgument("spawn: argv[0] must be an absolute path");
  }
  auto argv = CStrings(options.argv);
  auto envp = CStrings(options.env);
  // Every pipe is close-on-exec so that processes spawned at the same time by other threads
  // never hold our ends (which would delay EOF until they exit).
  // [0] read end, [1] write end; whatever is not handed over is closed on return.
  posix::UniqueFd in[2], out[2], err[2], status[2];
  for (auto* pipe : {in, out, err, status}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Internal(ErrnoText("pipe", errno));
    pipe[0].reset(fds[0]);
    pipe[1].reset(fds[1]);
  }
  std::vector<int> keep = options.inherit_fds;
  keep.push_back(status[1].get());
  std::sort(keep.begin(), keep.end());

  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  child->started_ = Clock::now();
  pid_t pid = ChildReaper::ForkTracked();
  if (pid < 0) return Internal(ErrnoText("fork", errno));
  if (pid == 0) RunChild(options, argv.data(), envp.data(), in[0].get(), out[1].get(), err[1].get(), status[1].get(), keep);

  for (auto* fd : {&in[0], &out[1], &err[1], &status[1]}) fd->reset();
  child->pid_ = pid;
  child->stdin_fd_ = std::move(in[1]);
  child->stdout_fd_ = std::move(out[0]);
  child->stderr_fd_ = std::move(err[0]);
  int report[2] = {0, 0};  // {stage, errno}, nothing when exec succeeded
  ssize_t n;
  do {
    n = read(status[0].get(), report, sizeof(report));
  } while (n < 0 && errno == EINTR);
  status[0].reset();
  if (n == static_cast<ssize_t>(sizeof(report))) {
    child->Wait();
    return Internal(ErrnoText(("cannot start " + options.argv[0] + " (" + StageText(report[0]) + ")").c_str(), report[1]));
  }
  child->pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (child->pidfd_) fcntl(child->pidfd_.get(), F_SETFD, FD_CLOEXEC);
  for (int fd : {child->stdin_fd(), child->stdout_fd(), child->stderr_fd()}) SetNonBlocking(fd);
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    SignalGroup(SIGKILL);
    Wait();
  }
  // The descriptors close with their UniqueFd members.
}

void ChildProcess::CloseStdin() { stdin_fd_.reset(); }
void ChildProcess::CloseStdout() { stdout_fd_.reset(); }
void ChildProcess::CloseStderr() { stderr_fd_.reset(); }

void ChildProcess::SignalGroup(int sig) {
  // Never after reaping: the pid may belong to someone else by then.
  if (pid_ > 0 && !reaped_) kill(-pid_, sig);
}

bool ChildProcess::Reap() {
  if (reaped_) return true;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    exit_code_ = DecodeStatus(status);
  } else if (r < 0 && errno == ECHILD) {
    reaped_ = true;  // reaped by someone else (a SIGCHLD handler): the status is lost
  }
  if (reaped_) ChildReaper::Forget(pid_);
  return reaped_;
}

void ChildProcess::Wait() {
  if (reaped_) return;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  reaped_ = true;
  ChildReaper::Forget(pid_);
  if (r == pid_) exit_code_ = DecodeStatus(status);
}

RunOutput ChildProcess::Communicate(std::string_view input, const RunLimits& limits,
                                    const std::function<void()>& kill_container, const std::atomic<bool>* cancel) {
  ScopedSigpipeBlock sigpipe_block;
  RunOutput out;
  const auto deadline = Clock::now() + limits.timeout;
  bool killing = false;
  bool hard_killed = false;
  Clock::time_point kill_time{}, next_kill{}, reaped_at{};
  size_t written = 0;
  if (input.empty()) CloseStdin();

  auto start_kill = [&] {
    if (killing) return;
    killing = true;
    kill_time = Clock::now();
    next_kill = kill_time + kKillRetry;
    CloseStdin();
    kill_container();
  };
  auto read_into = [&](posix::UniqueFd& fd, std::string& buffer, size_t cap, bool& truncated, bool is_stdout) {
    char chunk[65536];
    for (;;) {
      ssize_t n = read(fd.get(), chunk, sizeof(chunk));
      if (n > 0) {
        size_t room = buffer.size() < cap ? cap - buffer.size() : 0;
        buffer.append(chunk, std::min(room, static_cast<size_t>(n)));
        if (static_cast<size_t>(n) > room) {
          truncated = true;
          if (is_stdout) start_kill();
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      fd.reset();  // EOF or error
      return;
    }
  };

  for (;;) {
    if (!reaped_ && Reap()) reaped_at = Clock::now();
    if (reaped_ && !stdout_fd_ && !stderr_fd_) break;
    auto now = Clock::now();
    if (!killing && now >= deadline) {
      out.timed_out = true;
      start_kill();
    } else if (!killing && cancel && cancel->load()) {
      start_kill();
    }
    if (killing && !reaped_) {
      if (now >= next_kill) {
        kill_container();
        next_kill = now + kKillRetry;
      }
      if (!hard_killed && now >= kill_time + kKillGrace) {
        SignalGroup(SIGKILL);
        hard_killed = true;
      }
    }
    if (reaped_ && now >= reaped_at + kDrainAfterExit) break;  // a stray process holds the pipes

    Clock::time_point wake = deadline;
    if (killing) wake = std::min(next_kill, kill_time + kKillGrace);
    if (reaped_) wake = reaped_at + kDrainAfterExit;
    auto timeout = std::chrono::duration_cast<milliseconds>(wake - now) + milliseconds(1);
    if ((cancel && !killing) || (!pidfd_ && !reaped_)) timeout = std::min(timeout, kTick);
    if (timeout < milliseconds(0)) timeout = milliseconds(0);

    pollfd fds[4];
    int count = 0;
    int in_index = -1, out_index = -1, err_index = -1, exit_index = -1;
    if (stdin_fd_) fds[in_index = count++] = {stdin_fd_.get(), POLLOUT, 0};
    if (stdout_fd_) fds[out_index = count++] = {stdout_fd_.get(), POLLIN, 0};
    if (stderr_fd_) fds[err_index = count++] = {stderr_fd_.get(), POLLIN, 0};
    if (pidfd_ && !reaped_) fds[exit_index = count++] = {pidfd_.get(), POLLIN, 0};
    auto ready = posix::PollUntil(fds, static_cast<size_t>(count), now + timeout);
    if (!ready) break;  // cannot happen with valid descriptors
    if (*ready == 0) continue;

    if (in_index >= 0 && fds[in_index].revents) {
      ssize_t n = write(stdin_fd_.get(), input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) CloseStdin();
    }
    if (out_index >= 0 && fds[out_index].revents) {
      read_into(stdout_fd_, out.stdout_data, limits.max_stdout_bytes, out.stdout_truncated, true);
    }
    if (err_index >= 0 && fds[err_index].revents) {
      read_into(stderr_fd_, out.stderr_data, limits.max_stderr_bytes, out.stderr_truncated, false);
    }
  }
  CloseStdin();
  CloseStdout();
  CloseStderr();
  if (!reaped_) {
    SignalGroup(SIGKILL);
    Wait();
  }
  out.exit_code = exit_code_;
  out.wall = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_);
  return out;
}

Result<void> RunHelper(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  SpawnOptions options;
  options.argv = argv;
  options.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  EW_TRY(auto child, ChildProcess::Spawn(options));
  RunLimits limits;
  limits.timeout = timeout;
  limits.max_stdout_bytes = 64u << 10;
  limits.max_stderr_bytes = 16u << 10;
  ChildProcess* raw = child.get();
  auto out = child->Communicate("", limits, [raw] { raw->SignalGroup(SIGKILL); });
  if (out.timed_out) return Unavailable(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + ": timed out");
  if (out.exit_code != 0) {
    std::string tail = out.stderr_data.size() > 512 ? out.stderr_data.substr(out.stderr_data.size() - 512) : out.stderr_data;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
    return Unavailable(argv[0] + ": exit status " + std::to_string(out.exit_code) + (tail.empty() ? "" : ": " + tail));
  }
  return Ok();
}

}  // namespace ew::containers
