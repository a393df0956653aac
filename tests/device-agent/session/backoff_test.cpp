#include "device-agent/session/backoff.hpp"

#include <deque>

#include <gtest/gtest.h>

namespace ew::agent::session {
namespace {

using std::chrono::milliseconds;

// Returns the given values in order, then repeats the last.
Backoff::RandomSource Sequence(std::deque<double> values) {
  return [values = std::move(values)]() mutable {
    double v = values.front();
    if (values.size() > 1) values.pop_front();
    return v;
  };
}

TEST(BackoffTest, WindowDoublesUpToTheCap) {
  Backoff backoff(milliseconds(500), milliseconds(30'000), Sequence({0.999999}));
  std::vector<int64_t> expected = {499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999};
  for (int64_t want : expected) EXPECT_EQ(backoff.Next().count(), want);
}

TEST(BackoffTest, FullJitterDrawsFromZeroToTheWindow) {
  Backoff backoff(milliseconds(1000), milliseconds(4000), Sequence({0.0, 0.5, 0.25, 1.0}));
  EXPECT_EQ(backoff.Next(), milliseconds(0));     // window 1000
  EXPECT_EQ(backoff.Next(), milliseconds(1000));  // window 2000
  EXPECT_EQ(backoff.Next(), milliseconds(1000));  // window 4000
  EXPECT_EQ(backoff.Next(), milliseconds(4000));  // capped window, r clamped to 1
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff backoff(milliseconds(100), milliseconds(10'000), Sequence({1.0}));
  backoff.Next();
  backoff.Next();
  backoff.Next();
  EXPECT_EQ(backoff.Window(), milliseconds(800));
  backoff.Reset();
  EXPECT_EQ(backoff.attempt(), 0);
  EXPECT_EQ(backoff.Next(), milliseconds(100));
}

TEST(BackoffTest, BoundsHoldForRealRandomnessOverManyAttempts) {
  Backoff backoff(milliseconds(500), milliseconds(30'000));
  for (int i = 0; i < 10'000; ++i) {
    auto window = backoff.Window();
    auto delay = backoff.Next();
    EXPECT_GE(delay, milliseconds(0));
    EXPECT_LE(delay, window);
    EXPECT_LE(window, milliseconds(30'000));
  }
}

TEST(BackoffTest, ClampsNonsenseSettings) {
  Backoff backoff(milliseconds(0), milliseconds(-5), Sequence({1.0}));
  EXPECT_EQ(backoff.Next(), milliseconds(1));
  EXPECT_EQ(backoff.Next(), milliseconds(1));
  Backoff inverted(milliseconds(800), milliseconds(100), Sequence({1.0}));
  EXPECT_EQ(inverted.Next(), milliseconds(800));
  EXPECT_EQ(inverted.Next(), milliseconds(800));
}

TEST(BackoffTest, OutOfRangeRandomValuesAreClamped) {
  Backoff backoff(milliseconds(1000), milliseconds(1000), Sequence({-3.0, 7.0}));
  EXPECT_EQ(backoff.Next(), milliseconds(0));
  EXPECT_EQ(backoff.Next(), milliseconds(1000));
}

}  // namespace
}  // namespace ew::agent::session
