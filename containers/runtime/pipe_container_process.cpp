#include "containers/runtime/pipe_container_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "common/posix/poll.hpp"

namespace ew::containers {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Like ChildProcess::Communicate, a kill that found no container yet is sent again, here more
// often: stopping a warm instance that is still being created holds up the host.
constexpr milliseconds kKillRetry{200};
constexpr milliseconds kTick{50};
constexpr size_t kTailBytes = 2048;

}  // namespace

PipeContainerProcess::PipeContainerProcess(std::unique_ptr<ChildProcess> child, std::function<void()> kill_container,
                                           std::function<void()> cleanup, size_t max_log_bytes)
    : child_(std::move(child)),
      kill_container_(std::move(kill_container)),
      cleanup_(std::move(cleanup)),
      max_log_bytes_(max_log_bytes),
      cancel_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

PipeContainerProcess::~PipeContainerProcess() {
  Kill();
  if (cleanup_) cleanup_();
}

void PipeContainerProcess::Cancel() {
  cancelled_ = true;
  uint64_t one = 1;
  if (cancel_fd_) {
    ssize_t ignored = write(cancel_fd_.get(), &one, sizeof(one));
    (void)ignored;
  }
}

void PipeContainerProcess::Kill() {
  auto give_up = Clock::now() + kKillGrace;
  if (!child_->Reap()) {
    kill_container_();
    // A kill sent while the runtime is still creating the container finds nothing to kill
    // (`runc kill` of an id that does not exist yet): send it again until the runtime is gone.
    auto again = Clock::now() + kKillRetry;
    while (!child_->Reap() && Clock::now() < give_up) {
      const auto until = std::min(give_up, again);
      if (child_->exit_fd() >= 0) {
        (void)posix::PollFdUntil(child_->exit_fd(), POLLIN, until);
      } else {
        usleep(10'000);
      }
      if (Clock::now() >= again && !child_->Reap()) {
        kill_container_();
        again = Clock::now() + kKillRetry;
      }
    }
    child_->SignalGroup(SIGKILL);
    child_->Wait();
  }
  child_->CloseStdin();
  // The runtime may go before the container's processes (bwrap's sandbox dies after bwrap):
  // they are gone once nothing holds the pipes any more.
  while ((child_->stdout_fd() >= 0 || child_->stderr_fd() >= 0) && Clock::now() < give_up) {
    pollfd fds[2];
    int count = 0;
    if (child_->stdout_fd() >= 0) fds[count++] = {child_->stdout_fd(), POLLIN, 0};
    if (child_->stderr_fd() >= 0) fds[count++] = {child_->stderr_fd(), POLLIN, 0};
    if (auto ready = posix::PollUntil(fds, static_cast<size_t>(count), give_up); !ready || *ready == 0) continue;
    DrainStderr();
    char chunk[65536];
    while (child_->stdout_fd() >= 0) {
      ssize_t n = read(child_->stdout_fd(), chunk, sizeof(chunk));
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      if (n < 0 && errno == EAGAIN) break;
      child_->CloseStdout();
    }
  }
  child_->CloseStdout();
  DrainStderr();
  child_->CloseStderr();
}

bool PipeContainerProcess::IsAlive() { return !child_->Reap(); }

void PipeContainerProcess::AppendLogs(const char* data, size_t size) {
  size_t room = logs_.size() < max_log_bytes_ ? max_log_bytes_ - logs_.size() : 0;
  if (size > room) logs_truncated_ = true;
  logs_.append(data, std::min(room, size));
}

void PipeContainerProcess::ReadStdout(size_t max_bytes) {
  char chunk[65536];
  while (child_->stdout_fd() >= 0) {
    ssize_t n = read(child_->stdout_fd(), chunk, sizeof(chunk));
    if (n > 0) {
      pending_stdout_.append(chunk, static_cast<size_t>(n));
      if (pending_stdout_.size() > max_bytes + 1) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    child_->CloseStdout();  // EOF: the instance is gone (its answer, if any, was incomplete)
    return;
  }
}

void PipeContainerProcess::DrainStderr() {
  char chunk[16384];
  while (child_->stderr_fd() >= 0) {
    ssize_t n = read(child_->stderr_fd(), chunk, sizeof(chunk));
    if (n > 0) {
      AppendLogs(chunk, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      child_->CloseStderr();
    }
  }
}

std::string PipeContainerProcess::TakeLogs() {
  DrainStderr();
  std::string out = std::move(logs_);
  if (logs_truncated_) out += "\n[logs truncated]\n";
  logs_.clear();
  logs_truncated_ = false;
  return out;
}

Error PipeContainerProcess::ExitedError() {
  // Also for an instance that only closed its stdin or stdout and lives on: killed (bounded by
  // the kill grace) rather than waited for without end. The runtime's last words explain an
  // instance that never started.
  Kill();
  DrainStderr();
  std::string tail = logs_.size() > kTailBytes ? logs_.substr(logs_.size() - kTailBytes) : logs_;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  return Error(ErrorCode::kUnavailable, "warm instance exited (exit status " + std::to_string(child_->exit_code()) +
                                            ")" + (tail.empty() ? "" : ": " + tail));
}

Result<std::string> PipeContainerProcess::Exchange(std::string_view line, std::chrono::milliseconds timeout,
                                                   size_t max_bytes, const std::atomic<bool>* cancel) {
  if (line.find('\n') != std::string_view::npos) return InvalidArgument("a warm request must be one line");
  const auto cancelled = [&] { return cancelled_ || (cancel && cancel->load()); };
  if (cancelled_) {
    Kill();
    return MakeError(ErrorCode::kCancelled, "warm instance cancelled");
  }
  // The caller gave up before its line was written: the instance is still clean, keep it.
  if (cancel && cancel->load()) return MakeError(ErrorCode::kCancelled, "cancelled before the request was written");
  if (child_->Reap() || child_->stdin_fd() < 0) return tl::unexpected(ExitedError());
  // One line out per line in: output that came after the last answer would answer this request.
  ReadStdout(max_bytes);
  if (!pending_stdout_.empty()) {
    Kill();
    return MakeError(ErrorCode::kConflict,
                     "warm instance wrote to stdout after its last answer (one line per request): discarded");
  }
  const auto deadline = Clock::now() + timeout;
  std::string request(line);
  request.push_back('\n');
  size_t written = 0;
  // SIGPIPE when the instance died between IsAlive and the write: blocked as in Communicate.
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  struct Restore {
    sigset_t set, old;
    ~Restore() {
      timespec zero{0, 0};
      while (sigtimedwait(&set, nullptr, &zero) > 0) {
      }
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  } restore{set, old};

  for (;;) {
    if (auto newline = pending_stdout_.find('\n'); newline != std::string::npos) {
      if (newline > max_bytes) break;
      if (written < request.size()) {  // it cannot have read the request yet
        Kill();
        return Unavailable("warm instance answered before its request was written: discarded");
      }
      std::string answer = pending_stdout_.substr(0, newline);
      pending_stdout_.erase(0, newline + 1);
      DrainStderr();
      // More than the one line: it would answer the next request. This answer stands; the
      // instance goes.
      if (!pending_stdout_.empty()) Kill();
      return answer;
    }
    if (pending_stdout_.size() > max_bytes) break;
    if (Clock::now() >= deadline) {
      Kill();
      return DeadlineExceeded("warm instance did not answer within " + std::to_string(timeout.count()) + " ms");
    }
    pollfd fds[4];
    int count = 0, in_index = -1, out_index = -1, err_index = -1, cancel_index = -1;
    if (written < request.size() && child_->stdin_fd() >= 0) fds[in_index = count++] = {child_->stdin_fd(), POLLOUT, 0};
    if (child_->stdout_fd() >= 0) fds[out_index = count++] = {child_->stdout_fd(), POLLIN, 0};
    if (child_->stderr_fd() >= 0) fds[err_index = count++] = {child_->stderr_fd(), POLLIN, 0};
    if (out_index < 0) return tl::unexpected(ExitedError());
    if (cancel_fd_) fds[cancel_index = count++] = {cancel_fd_.get(), POLLIN, 0};
    // Without a pidfd nothing wakes us when the runtime exits, nor anything when the caller's flag
    // is set (or Cancel() is called, without its eventfd): look again every tick.
    const bool tick = child_->exit_fd() < 0 || cancel || !cancel_fd_;
    const auto wake = tick ? std::min(deadline, Clock::now() + kTick) : deadline;
    auto ready = posix::PollUntil(fds, static_cast<size_t>(count), wake);
    if (cancelled() || (ready && *ready > 0 && cancel_index >= 0 && fds[cancel_index].revents)) {
      Kill();
      return MakeError(ErrorCode::kCancelled, "warm instance cancelled");
    }
    if (!ready || *ready == 0) continue;
    if (in_index >= 0 && fds[in_index].revents) {
      ssize_t n = write(child_->stdin_fd(), request.data() + written, request.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 && errno != EAGAIN && errno != EINTR) child_->CloseStdin();
    }
    if (err_index >= 0 && fds[err_index].revents) DrainStderr();
    if (fds[out_index].revents) ReadStdout(max_bytes);
  }
  Kill();
  return ResourceExhausted("warm instance answered with a line over " + std::to_string(max_bytes) + " bytes");
}

}  // namespace ew::containers
