#include "cloud-conductor/placement/runtime_stats.hpp"

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

}  // namespace ew::placement
