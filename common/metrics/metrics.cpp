// Counters, gauges and histograms on atomics, and their rendering in the Prometheus text
// exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
#include "common/metrics/metrics.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace ew::metrics {

namespace {

// std::atomic<double> has no fetch_add before C++20.
void AtomicAdd(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

enum class Kind { kCounter, kGauge, kHistogram };

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kCounter: return "counter";
    case Kind::kGauge: return "gauge";
    case Kind::kHistogram: return "histogram";
  }
  return "untyped";
}

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: [a-zA-Z_][a-zA-Z0-9_]*. Anything else
// becomes '_' so one careless name cannot make the whole /metrics page unparseable.
std::string SanitizeName(const std::string& name, bool allow_colon) {
  std::string out = name.empty() ? "_" : name;
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) out[i] = '_';
  }
  return out;
}

// HELP text escapes '\' and newline; label values also escape '"'.
std::string Escape(const std::string& text, bool escape_quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && escape_quote) out += "\\\"";
    else out += c;
  }
  return out;
}

// Go-style float text Prometheus parses: shortest round trip, "+Inf", "-Inf", "NaN".
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

// {a="1",b="2"} with an optional extra label (histogram "le"); empty when there are no labels.
std::string FormatLabels(const Labels& labels, const char* extra_name = nullptr, const std::string& extra_value = "") {
  if (labels.empty() && extra_name == nullptr) return "";
  std::string out = "{";
  bool first = true;
  auto append = [&](const std::string& name, const std::string& value) {
    if (!first) out += ',';
    first = false;
    out += SanitizeName(name, false);
    out += "=\"";
    out += Escape(value, true);
    out += '"';
  };
  for (const auto& [name, value] : labels) append(name, value);
  if (extra_name != nullptr) append(extra_name, extra_value);
  out += '}';
  return out;
}

}  // namespace

void Counter::Inc(double v) {
  // Prometheus counters only go up; a negative or NaN increment would read as a counter reset.
  if (!(v >= 0)) return;
  AtomicAdd(value_, v);
}

void Gauge::Inc(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  // Buckets must be increasing and finite: +Inf is always the implicit last bucket.
  bounds_.erase(std::remove_if(bounds_.begin(), bounds_.end(), [](double b) { return !std::isfinite(b); }),
                bounds_.end());
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // A NaN would poison _sum forever and fits no bucket.
  if (std::isnan(v)) return;
  // Bounds are inclusive (le = "less or equal"): first bound >= v.
  size_t index = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> counts(bounds_.size() + 1);
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = buckets_[i].load(std::memory_order_relaxed);
  return counts;
}

double Histogram::Quantile(double q) const {
  const std::vector<uint64_t> counts = BucketCounts();
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  // No observations: 0 rather than NaN, so stats pages and JSON bodies stay plain numbers.
  if (total == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(total);
  uint64_t below = 0;  // observations in the buckets before the current one
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0 || static_cast<double>(below + counts[i]) < rank) {
      below += counts[i];
      continue;
    }
    // The +Inf bucket has no upper edge: the best answer is the highest finite bound.
    if (i == bounds_.size()) return bounds_.empty() ? 0.0 : bounds_.back();
    const double upper = bounds_[i];
    // Like Prometheus' histogram_quantile: the first bucket starts at 0 unless its bound is negative.
    const double lower = i > 0 ? bounds_[i - 1] : std::min(0.0, upper);
    const double fraction = (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
    return lower + (upper - lower) * fraction;
  }
  return bounds_.empty() ? 0.0 : bounds_.back();
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
}

// One metric name: its help, its kind and one child per label set. A name first registered as one
// kind and then requested as another still gets a working object, from the map of that other
// kind, but only the first kind is rendered: a programming slip must not crash a daemon (asserts
// stay on in our release builds) nor produce a page Prometheus rejects.
struct Registry::Family {
  Kind kind = Kind::kCounter;
  std::string help;
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<Histogram>> histograms;
};

namespace {

template <typename Family>
Family& FamilyFor(std::map<std::string, std::unique_ptr<Family>>& families, const std::string& name,
                  const std::string& help, Kind kind) {
  auto& family = families[SanitizeName(name, true)];
  if (!family) {
    family = std::make_unique<Family>();
    family->kind = kind;
    family->help = help;
  }
  return *family;
}

template <typename Metric, typename... Args>
Metric& Child(std::map<Labels, std::unique_ptr<Metric>>& children, const Labels& labels, Args&&... args) {
  auto& child = children[labels];
  if (!child) child = std::make_unique<Metric>(std::forward<Args>(args)...);
  return *child;
}

}  // namespace

Counter& Registry::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  return Child(FamilyFor(families_, name, help, Kind::kCounter).counters, labels);
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  return Child(FamilyFor(families_, name, help, Kind::kGauge).gauges, labels);
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  const std::vector<double>& upper_bounds, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Same name + labels returns the existing histogram: the first caller's bounds win.
  return Child(FamilyFor(families_, name, help, Kind::kHistogram).histograms, labels, upper_bounds);
}

namespace {

void RenderHistogram(std::string& out, const std::string& name, const Labels& labels, const Histogram& h) {
  // One snapshot of the buckets, so _bucket{le="+Inf"} and _count agree even while observing.
  const std::vector<uint64_t> counts = h.BucketCounts();
  const std::vector<double>& bounds = h.UpperBounds();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
    out += fmt::format("{}_bucket{} {}\n", name, FormatLabels(labels, "le", le), cumulative);
  }
  out += fmt::format("{}_sum{} {}\n", name, FormatLabels(labels), FormatValue(h.Sum()));
  out += fmt::format("{}_count{} {}\n", name, FormatLabels(labels), cumulative);
}

}  // namespace

std::string Registry::RenderPrometheus() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += fmt::format("# HELP {} {}\n", name, Escape(family->help, false));
    out += fmt::format("# TYPE {} {}\n", name, KindName(family->kind));
    switch (family->kind) {
      case Kind::kCounter:
        for (const auto& [labels, c] : family->counters) {
          out += fmt::format("{}{} {}\n", name, FormatLabels(labels), FormatValue(c->Value()));
        }
        break;
      case Kind::kGauge:
        for (const auto& [labels, g] : family->gauges) {
          out += fmt::format("{}{} {}\n", name, FormatLabels(labels), FormatValue(g->Value()));
        }
        break;
      case Kind::kHistogram:
        for (const auto& [labels, h] : family->histograms) RenderHistogram(out, name, labels, *h);
        break;
    }
  }
  return out;
}

Registry::Registry() = default;
Registry::~Registry() = default;

}  // namespace ew::metrics
