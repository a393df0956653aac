// What the conductor has measured of one (function, runtime) pair: every duration is taken on
// the conductor's side (queue + network + run), so a runtime behind a slow network looks slow.
// A value type: PlacementBook guards it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

namespace ew::placement {

using Millis = std::chrono::duration<double, std::milli>;

struct Sample {
  uint64_t play = 0;  // the function's call number (1, 2, ...) when it was taken
  Millis duration{0};
};

// Everything a RuntimeStats holds, as plain values: what the registry keeps across restarts
// (functions/function_store.hpp, placement_stats) and gives back at start.
struct RuntimeStatsState {
  uint64_t successes = 0;
  uint64_t failures = 0;
  uint64_t failures_in_a_row = 0;
  double mean_ms = 0;  // Welford's running mean and sum of squared deviations
  double m2 = 0;
  std::deque<Sample> recent;  // oldest first
};

class RuntimeStats {
 public:
  // Keeps the last `recent_capacity` successful samples (the sliding window strategies see).
  explicit RuntimeStats(size_t recent_capacity = 64) : recent_capacity_(recent_capacity) {}

  void RecordSuccess(Millis duration, uint64_t play);
  // A failure (error, timeout, unreachable) counts as a play of this runtime with no duration:
  // it is in `failures` and `count`, not in the mean.
  void RecordFailure(uint64_t play);

  uint64_t count() const { return successes_ + failures_; }
  uint64_t successes() const { return successes_; }
  uint64_t failures() const { return failures_; }
  // Over every success; 0 before the first.
  Millis mean() const { return Millis(mean_); }
  // Sample variance (ms²) over every success; 0 below two.
  double variance() const { return successes_ < 2 ? 0.0 : m2_ / static_cast<double>(successes_ - 1); }
  // The newest successes, oldest first, at most recent_capacity.
  const std::deque<Sample>& recent() const { return recent_; }
  // Failures in a row since the last success (a runtime that keeps failing drops in the ranking).
  uint64_t failures_in_a_row() const { return failures_in_a_row_; }

  RuntimeStatsState state() const;
  // The stats `state` describes; its recent samples beyond `recent_capacity` (the oldest) are
  // dropped. Values are taken as they are: the store wrote them from a RuntimeStats.
  static RuntimeStats FromState(RuntimeStatsState state, size_t recent_capacity = 64);

 private:
  size_t recent_capacity_;
  uint64_t successes_ = 0;
  uint64_t failures_ = 0;
  uint64_t failures_in_a_row_ = 0;
  double mean_ = 0;  // Welford's running mean and sum of squared deviations, in ms
  double m2_ = 0;
  std::deque<Sample> recent_;
};

}  // namespace ew::placement
