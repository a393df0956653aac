// Counters, gauges and histograms (including concurrent updates and quantiles) and the exact
// Prometheus text the /metrics endpoint serves.
#include "common/metrics/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include <gtest/gtest.h>

namespace ew::metrics {
namespace {

TEST(MetricsTest, CounterAddsAndIgnoresNegativeIncrements) {
  Counter c;
  c.Inc();
  c.Inc(2.5);
  c.Inc(-10);
  c.Inc(std::nan(""));
  EXPECT_DOUBLE_EQ(c.Value(), 3.5);
}

TEST(MetricsTest, GaugeSetsIncrementsAndDecrements) {
  Gauge g;
  g.Set(10);
  g.Inc(2);
  g.Dec(5);
  g.Dec();
  EXPECT_DOUBLE_EQ(g.Value(), 6);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Counter c;
  Gauge g;
  Histogram h({1.0, 2.0});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        c.Inc(0.5);
        g.Inc();
        g.Dec(0.25);
        h.Observe(1.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_DOUBLE_EQ(c.Value(), kThreads * kPerThread * 0.5);
  EXPECT_DOUBLE_EQ(g.Value(), kThreads * kPerThread * 0.75);
  EXPECT_EQ(h.Count(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_DOUBLE_EQ(h.Sum(), kThreads * kPerThread * 1.5);
  EXPECT_EQ(h.BucketCounts(), (std::vector<uint64_t>{0, kThreads * kPerThread, 0}));
}

TEST(MetricsTest, HistogramBucketsAreInclusiveUpperBounds) {
  Histogram h({0.1, 0.5, 1.0});
  for (double v : {0.05, 0.1, 0.3, 0.5, 0.7, 1.0, 3.0, -1.0}) h.Observe(v);
  h.Observe(std::nan(""));  // ignored
  EXPECT_EQ(h.BucketCounts(), (std::vector<uint64_t>{3, 2, 2, 1}));
  EXPECT_EQ(h.Count(), 8u);
  EXPECT_DOUBLE_EQ(h.Sum(), 0.05 + 0.1 + 0.3 + 0.5 + 0.7 + 1.0 + 3.0 - 1.0);
}

TEST(MetricsTest, HistogramSortsAndCleansBounds) {
  Histogram h({1.0, 0.5, 1.0, INFINITY, std::nan("")});
  EXPECT_EQ(h.UpperBounds(), (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(h.BucketCounts().size(), 3u);
}

TEST(MetricsTest, QuantileInterpolatesWithinTheBucket) {
  Histogram h({1.0, 2.0, 4.0});
  EXPECT_DOUBLE_EQ(h.Quantile(0.5), 0.0);  // no observations yet
  // 10 in (0,1], 10 in (1,2], 20 in (2,4].
  for (int i = 0; i < 10; ++i) h.Observe(0.5);
  for (int i = 0; i < 10; ++i) h.Observe(1.5);
  for (int i = 0; i < 20; ++i) h.Observe(3.0);
  EXPECT_DOUBLE_EQ(h.Quantile(0.125), 0.5);   // rank 5 of 10 in the first bucket: 0 + 1 * 5/10
  EXPECT_DOUBLE_EQ(h.Quantile(0.25), 1.0);    // rank 10: top of the first bucket
  EXPECT_DOUBLE_EQ(h.Quantile(0.375), 1.5);   // rank 15: half way through (1,2]
  EXPECT_DOUBLE_EQ(h.Quantile(0.75), 3.0);    // rank 30: half way through (2,4]
  EXPECT_DOUBLE_EQ(h.Quantile(1.0), 4.0);
  EXPECT_DOUBLE_EQ(h.Quantile(2.0), 4.0);     // clamped to 1
  EXPECT_DOUBLE_EQ(h.Quantile(0.0), 0.0);
}

TEST(MetricsTest, QuantileInTheInfBucketIsTheHighestBound) {
  Histogram h({1.0, 2.0});
  h.Observe(0.5);
  h.Observe(100);
  h.Observe(200);
  EXPECT_DOUBLE_EQ(h.Quantile(0.99), 2.0);
}

TEST(MetricsTest, DefaultLatencyBucketsSpan50MicrosecondsTo10Seconds) {
  auto buckets = DefaultLatencyBuckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_DOUBLE_EQ(buckets.front(), 50e-6);
  EXPECT_DOUBLE_EQ(buckets.back(), 10.0);
  EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
}

TEST(MetricsTest, SameNameAndLabelsGiveTheSameObject) {
  Registry r;
  Counter& a = r.GetCounter("ew_calls_total", "Calls.", {{"board", "brd-1"}});
  Counter& b = r.GetCounter("ew_calls_total", "ignored", {{"board", "brd-1"}});
  Counter& c = r.GetCounter("ew_calls_total", "Calls.", {{"board", "brd-2"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  Histogram& h1 = r.GetHistogram("ew_latency_seconds", "Latency.", {1, 2});
  Histogram& h2 = r.GetHistogram("ew_latency_seconds", "Latency.", {5});
  EXPECT_EQ(&h1, &h2);
  EXPECT_EQ(h2.UpperBounds(), (std::vector<double>{1, 2}));
}

TEST(MetricsTest, RendersPrometheusText) {
  Registry r;
  r.GetCounter("ew_router_messages_total", "WAMP messages routed.", {{"type", "CALL"}}).Inc(3);
  r.GetCounter("ew_router_messages_total", "WAMP messages routed.", {{"type", "EVENT"}}).Inc(2);
  r.GetGauge("ew_boards_connected", "Boards with a live session.").Set(7);
  Histogram& h = r.GetHistogram("ew_call_seconds", "Call latency.", {0.005, 0.1}, {{"board", "brd-1"}});
  h.Observe(0.001);
  h.Observe(0.05);
  h.Observe(2);
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP ew_boards_connected Boards with a live session.\n"
            "# TYPE ew_boards_connected gauge\n"
            "ew_boards_connected 7\n"
            "# HELP ew_call_seconds Call latency.\n"
            "# TYPE ew_call_seconds histogram\n"
            "ew_call_seconds_bucket{board=\"brd-1\",le=\"0.005\"} 1\n"
            "ew_call_seconds_bucket{board=\"brd-1\",le=\"0.1\"} 2\n"
            "ew_call_seconds_bucket{board=\"brd-1\",le=\"+Inf\"} 3\n"
            "ew_call_seconds_sum{board=\"brd-1\"} 2.051\n"
            "ew_call_seconds_count{board=\"brd-1\"} 3\n"
            "# HELP ew_router_messages_total WAMP messages routed.\n"
            "# TYPE ew_router_messages_total counter\n"
            "ew_router_messages_total{type=\"CALL\"} 3\n"
            "ew_router_messages_total{type=\"EVENT\"} 2\n");
}

TEST(MetricsTest, EscapesHelpAndLabelValues) {
  Registry r;
  r.GetGauge("ew_x", "Help with \\ and\nnewline \"quotes\" kept.", {{"path", "C:\\dir\n\"q\""}}).Set(1);
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP ew_x Help with \\\\ and\\nnewline \"quotes\" kept.\n"
            "# TYPE ew_x gauge\n"
            "ew_x{path=\"C:\\\\dir\\n\\\"q\\\"\"} 1\n");
}

TEST(MetricsTest, SpecialValuesAndBadNames) {
  Registry r;
  r.GetGauge("ew-bad.name", "Sanitized.", {{"bad-label", "v"}}).Set(INFINITY);
  r.GetGauge("ew_nan", "NaN.").Set(std::nan(""));
  r.GetGauge("ew_small", "Small.").Set(-1.5e-7);
  const std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("ew_bad_name{bad_label=\"v\"} +Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ew_nan NaN\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ew_small -1.5e-07\n"), std::string::npos) << text;
}

TEST(MetricsTest, NameReusedWithAnotherKindStillWorksButIsNotRendered) {
  Registry r;
  r.GetCounter("ew_thing", "A counter.").Inc();
  Gauge& g = r.GetGauge("ew_thing", "Not a counter.");
  g.Set(42);
  EXPECT_DOUBLE_EQ(g.Value(), 42);
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP ew_thing A counter.\n"
            "# TYPE ew_thing counter\n"
            "ew_thing 1\n");
}

TEST(MetricsTest, EmptyRegistryRendersNothing) {
  Registry r;
  EXPECT_EQ(r.RenderPrometheus(), "");
}

}  // namespace
}  // namespace ew::metrics
