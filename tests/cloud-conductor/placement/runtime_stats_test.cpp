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

// Issue 18: the state the registry keeps gives back the same statistics.
TEST(RuntimeStatsTest, StateRoundTripsAndKeepsTheWindowBound) {
  RuntimeStats stats(3);
  for (int i = 1; i <= 5; ++i) stats.RecordSuccess(Millis(10.0 * i), static_cast<uint64_t>(i));
  stats.RecordFailure(6);
  RuntimeStats back = RuntimeStats::FromState(stats.state(), 3);
  EXPECT_EQ(back.successes(), 5u);
  EXPECT_EQ(back.failures(), 1u);
  EXPECT_EQ(back.failures_in_a_row(), 1u);
  EXPECT_DOUBLE_EQ(back.mean().count(), stats.mean().count());
  EXPECT_DOUBLE_EQ(back.variance(), stats.variance());
  ASSERT_EQ(back.recent().size(), 3u);
  EXPECT_EQ(back.recent().front().play, 3u);
  // A smaller window than was stored keeps the newest samples.
  RuntimeStats small = RuntimeStats::FromState(stats.state(), 2);
  ASSERT_EQ(small.recent().size(), 2u);
  EXPECT_EQ(small.recent().front().play, 4u);
  // It goes on learning from there.
  back.RecordSuccess(Millis(60), 7);
  EXPECT_DOUBLE_EQ(back.mean().count(), 35.0);
  EXPECT_EQ(back.failures_in_a_row(), 0u);
}

}  // namespace
}  // namespace ew::placement
