// RuntimeStats: Welford mean and variance, the recent window, failures apart from durations.
#include "cloud-conductor/placement/runtime_stats.hpp"

#include <gtest/gtest.h>

namespace ew::placement {
namespace {

TEST(RuntimeStatsTest, MeanVarianceAndWindowOfSuccesses) {
  RuntimeStats stats(3);
  EXPECT_EQ(stats.count(), 0u);
  EXPECT_EQ(stats.variance(), 0.0);
  for (double ms : {10.0, 20.0, 30.0, 40.0}) stats.RecordSuccess(Millis(ms), static_cast<uint64_t>(ms / 10));
  EXPECT_DOUBLE_EQ(stats.mean().count(), 25.0);
  EXPECT_NEAR(stats.variance(), 166.6667, 1e-3);  // sample variance of 10,20,30,40
  ASSERT_EQ(stats.recent().size(), 3u);           // the oldest fell out
  EXPECT_EQ(stats.recent().front().play, 2u);
  EXPECT_DOUBLE_EQ(stats.recent().back().duration.count(), 40.0);
}

TEST(RuntimeStatsTest, FailuresCountButDoNotMoveTheMean) {
  RuntimeStats stats;
  stats.RecordSuccess(Millis(100), 1);
  stats.RecordFailure(2);
  stats.RecordFailure(3);
  EXPECT_EQ(stats.count(), 3u);
  EXPECT_EQ(stats.failures(), 2u);
  EXPECT_EQ(stats.failures_in_a_row(), 2u);
  EXPECT_DOUBLE_EQ(stats.mean().count(), 100.0);
  stats.RecordSuccess(Millis(100), 4);
  EXPECT_EQ(stats.failures_in_a_row(), 0u);
}

}  // namespace
}  // namespace ew::placement
