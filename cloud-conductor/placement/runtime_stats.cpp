#include "cloud-conductor/placement/runtime_stats.hpp"

#include <utility>

namespace ew::placement {

void RuntimeStats::RecordSuccess(Millis duration, uint64_t play) {
  ++successes_;
  failures_in_a_row_ = 0;
  const double x = duration.count();
  const double delta = x - mean_;
  mean_ += delta / static_cast<double>(successes_);
  m2_ += delta * (x - mean_);
  recent_.push_back(Sample{play, duration});
  while (recent_.size() > recent_capacity_) recent_.pop_front();
}

void RuntimeStats::RecordFailure(uint64_t /*play*/) {
  ++failures_;
  ++failures_in_a_row_;
}

RuntimeStatsState RuntimeStats::state() const {
  return RuntimeStatsState{successes_, failures_, failures_in_a_row_, mean_, m2_, recent_};
}

RuntimeStats RuntimeStats::FromState(RuntimeStatsState state, size_t recent_capacity) {
  RuntimeStats stats(recent_capacity);
  stats.successes_ = state.successes;
  stats.failures_ = state.failures;
  stats.failures_in_a_row_ = state.failures_in_a_row;
  stats.mean_ = state.mean_ms;
  stats.m2_ = state.m2;
  stats.recent_ = std::move(state.recent);
  while (stats.recent_.size() > recent_capacity) stats.recent_.pop_front();
  return stats;
}

}  // namespace ew::placement
