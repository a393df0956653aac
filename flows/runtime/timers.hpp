// Timers of one flow runtime, read from an injectable Clock (common/clock): inject intervals,
// delays, triggers, join timeouts. Deadlines are Clock::Steady() points; an asio timer wakes the
// strand when the earliest one is due in real time, and tests using ManualClock advance the clock
// and call RunDue() themselves. Strand only (not thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/io_context.hpp>

#include "common/clock/clock.hpp"

namespace ew::flows::runtime {

class Timers {
 public:
  using Id = uint64_t;
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  Timers(const Clock& clock, Strand strand);
  ~Timers();

  // Calls `fn` on the strand once `delay` has passed on the clock. Never fires inside After().
  Id After(std::chrono::nanoseconds delay, std::function<void()> fn);
  // No-op for an id that fired or was cancelled.
  void Cancel(Id id);
  void CancelAll();
  // Fires every timer whose deadline has passed, earliest first (including ones a callback adds
  // that are already due). Returns how many fired.
  size_t RunDue();
  size_t pending() const { return by_id_.size(); }

  const Clock& clock() const { return clock_; }

 private:
  using Deadline = std::chrono::steady_clock::time_point;
  void Arm();

  const Clock& clock_;
  Strand strand_;
  boost::asio::steady_timer wake_;
  std::multimap<Deadline, std::pair<Id, std::function<void()>>> queue_;
  std::unordered_map<Id, std::multimap<Deadline, std::pair<Id, std::function<void()>>>::iterator> by_id_;
  Id next_id_ = 1;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::optional<Deadline> armed_for_;
};

}  // namespace ew::flows::runtime
