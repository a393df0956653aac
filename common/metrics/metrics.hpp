// Process metrics rendered as Prometheus text (/metrics). Counters, gauges and histograms are
// created once (registration takes a lock) and then updated lock-free from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ew::metrics {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  void Inc(double v = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }
 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double v = 1.0);
  void Dec(double v = 1.0) { Inc(-v); }
  double Value() const { return value_.load(std::memory_order_relaxed); }
 private:
  std::atomic<double> value_{0.0};
};

// Cumulative buckets with upper bounds in the metric's unit (seconds for latencies).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  // Snapshot for rendering and tests.
  std::vector<uint64_t> BucketCounts() const;  // not cumulative, one per bound plus +Inf
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& UpperBounds() const { return bounds_; }
  // Value below which `q` (0..1) of observations fall, interpolated within a bucket.
  double Quantile(double q) const;
 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

// Latency buckets from 50 µs to 10 s.
std::vector<double> DefaultLatencyBuckets();

class Registry {
 public:
  Registry();
  ~Registry();  // out of line: Family is defined in metrics.cpp
  // Same name + labels → same object. References stay valid for the registry's life.
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& upper_bounds = DefaultLatencyBuckets(),
                          const Labels& labels = {});
  // Prometheus text exposition format 0.0.4.
  std::string RenderPrometheus() const;

 private:
  struct Family;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>> families_;
};

}  // namespace ew::metrics
