// The libgpiod 1.6 backend of GpioChip: one GPIO character device such as /dev/gpiochip0.
// Every kernel request carries the consumer label "edgewire"; who holds a line inside the agent
// (the GpioChip consumer) is tracked here. Edges carry the kernel's timestamp and are debounced in
// software as SimChip does (libgpiod 1.6 has no kernel debounce). They are read on one event
// thread per chip, which runs while at least one line reports edges.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gpiod.hpp>

#include "common/error/error.hpp"
#include "common/gpio/gpio_chip.hpp"

namespace ew::agent::gpio {

// The consumer label of every line the agent requests from the kernel (`gpioinfo` shows it).
inline constexpr const char* kKernelConsumer = "edgewire";

class GpiodChip final : public ew::gpio::GpioChip {
 public:
  // Opens `device_path` as the chip called `name` in the API. NotFound when the device does not
  // exist, PermissionDenied when the agent may not open it, InvalidArgument when it is not a GPIO
  // chip, Unavailable otherwise; each message names the path.
  static Result<std::unique_ptr<ew::gpio::GpioChip>> Open(std::string name, const std::string& device_path);
  // Stops the event thread (no handler runs after it returns) and releases every line. Must not
  // be called from an edge handler.
  ~GpiodChip() override;

  std::string Name() const override { return name_; }
  const std::string& DevicePath() const { return device_path_; }
  // Lines the agent holds show their holder; lines used outside the agent (another process, a
  // kernel driver) show the kernel's consumer label. Free lines are read as-is (see Read).
  std::vector<ew::gpio::LineInfo> Lines() const override;
  Result<uint32_t> Resolve(std::string_view line) const override;
  // Conflict also when the line is used outside the agent. Bias needs kernel 5.5+ (else the
  // kernel's InvalidArgument). Starts the event thread with the first line that reports edges.
  Result<void> Request(uint32_t offset, const ew::gpio::LineRequest& request, const std::string& consumer,
                       ew::gpio::EdgeHandler on_edge = nullptr) override;
  // Called from another thread than the event thread, waits for a handler of this line that is
  // running to return, so no handler of the released request runs after Release returns.
  Result<void> Release(uint32_t offset, const std::string& consumer) override;
  size_t ReleaseAll(const std::string& consumer) override;
  // A line nobody in the agent holds is requested as-is (its direction is left alone), read and
  // released. Conflict when it is used outside the agent.
  Result<int> Read(uint32_t offset) const override;
  Result<void> Write(uint32_t offset, int value, const std::string& consumer) override;

 private:
  struct Line {
    std::string name;      // the kernel's line name, "" when unnamed
    std::string consumer;  // who in the agent holds it, "" when free
    ew::gpio::LineRequest request;
    ew::gpio::EdgeHandler on_edge;
    gpiod::line handle;          // requested from the kernel while held
    bool events_failed = false;  // its event fd errored: no longer polled
    std::chrono::nanoseconds last_edge{-1};
    uint64_t sequence = 0;  // reported edges, over the chip's lifetime (as SimChip)
  };
  struct Dispatch;

  GpiodChip(std::string name, std::string device_path, gpiod::chip chip, std::vector<std::string> names, int wake_fd);

  Result<Line*> LineAt(uint32_t offset) const;
  void ReleaseLocked(uint32_t offset, Line& line);
  // Waits (unless on the event thread) until no handler of one of `offsets` runs.
  void WaitForHandlersLocked(std::unique_lock<std::mutex>& lock, const std::vector<uint32_t>& offsets);
  Result<int> ReadFreeLocked(uint32_t offset, const Line& line) const;
  std::optional<std::string> UsedOutside(uint32_t offset) const;  // the kernel consumer, if any
  void StartEventThreadLocked();
  void Wake() const;
  void EventLoop();
  // Reads the pending events of the line behind `fd`; the handler calls to make, in order.
  std::vector<Dispatch> TakeEvents(uint32_t offset, int fd, short revents);

  const std::string name_;
  const std::string device_path_;
  const std::vector<std::string> names_;  // by offset; immutable after Open
  const int wake_fd_;                     // eventfd: the set of edge lines changed, or stop

  mutable std::mutex mu_;
  gpiod::chip chip_;                   // GUARDED_BY(mu_): libgpiod objects are not thread-safe
  mutable std::vector<Line> lines_;    // GUARDED_BY(mu_)
  std::thread event_thread_;           // GUARDED_BY(mu_)
  std::thread::id event_thread_id_;    // GUARDED_BY(mu_): the latest event thread's, kept after it ends
  bool event_thread_running_ = false;  // GUARDED_BY(mu_): false once the thread decided to end
  bool stopping_ = false;              // GUARDED_BY(mu_)
  std::vector<uint32_t> dispatching_;  // GUARDED_BY(mu_): lines whose handlers run right now
  std::condition_variable dispatch_done_;
};

// Errno of a failed libgpiod call → the error for the caller; `what` names the attempt
// ("cannot open GPIO chip /dev/gpiochip0"). Exposed for tests: most errnos need hardware.
Error GpiodError(int errno_value, const std::string& what);

}  // namespace ew::agent::gpio
