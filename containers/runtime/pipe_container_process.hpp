// The warm-mode ContainerProcess of every driver: a runtime process whose container answers
// one line of stdout per line of stdin. The driver supplies how to kill its container and
// what to clean up afterwards (runc state, bundle directory, descriptors).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "containers/runtime/child_process.hpp"
#include "containers/runtime/container_runtime.hpp"

namespace ew::containers {

class PipeContainerProcess final : public ContainerProcess {
 public:
  // `kill_container` may be called several times; `cleanup` once, after the runtime is reaped.
  PipeContainerProcess(std::unique_ptr<ChildProcess> child, std::function<void()> kill_container,
                       std::function<void()> cleanup, size_t max_log_bytes = 256u << 10);
  ~PipeContainerProcess() override;

  Result<std::string> Exchange(std::string_view line, std::chrono::milliseconds timeout, size_t max_bytes,
                               const std::atomic<bool>* cancel) override;
  std::string TakeLogs() override;
  bool IsAlive() override;
  void Cancel() override;

 private:
  void Kill();
  void DrainStderr();
  // Appends what stdout has now to pending_stdout_ (stops past max_bytes + 1); closes it at EOF.
  void ReadStdout(size_t max_bytes);
  void AppendLogs(const char* data, size_t size);
  Error ExitedError();

  std::unique_ptr<ChildProcess> child_;
  std::function<void()> kill_container_;
  std::function<void()> cleanup_;
  size_t max_log_bytes_;
  std::string pending_stdout_;  // bytes after the last complete line
  std::string logs_;            // stderr since the last TakeLogs, capped
  bool logs_truncated_ = false;
  std::atomic<bool> cancelled_{false};
  posix::UniqueFd cancel_fd_;  // eventfd that wakes a pending Exchange
};

}  // namespace ew::containers
