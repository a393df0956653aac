// Small helpers shared by the benchmark binaries: round-trip statistics and ws:// URL parsing.
// Header-only on purpose: each benchmark is one translation unit plus this file.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ew::bench {

using Clock = std::chrono::steady_clock;

// Round-trip times of one run. Add() is O(1); Summarize() sorts once at the end.
class LatencyRecorder {
 public:
  void Reserve(size_t n) { samples_.reserve(n); }
  void Add(Clock::duration rtt) { samples_.push_back(rtt); }
  size_t count() const { return samples_.size(); }

  struct Summary {
    double p50_us = 0;
    double p90_us = 0;
    double p99_us = 0;
    double mean_us = 0;
    double max_us = 0;
  };

  // Nearest-rank percentiles in microseconds; all zero when nothing was recorded.
  Summary Summarize() {
    Summary s;
    if (samples_.empty()) return s;
    std::sort(samples_.begin(), samples_.end());
    auto at = [this](double q) {
      size_t rank = static_cast<size_t>(q * static_cast<double>(samples_.size()));
      return ToMicros(samples_[std::min(rank, samples_.size() - 1)]);
    };
    s.p50_us = at(0.50);
    s.p90_us = at(0.90);
    s.p99_us = at(0.99);
    s.max_us = ToMicros(samples_.back());
    Clock::duration total{};
    for (auto d : samples_) total += d;
    s.mean_us = ToMicros(total) / static_cast<double>(samples_.size());
    return s;
  }

 private:
  static double ToMicros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

  std::vector<Clock::duration> samples_;
};

// Events per second over `elapsed`; 0 when nothing elapsed.
inline double PerSecond(size_t events, Clock::duration elapsed) {
  double seconds = std::chrono::duration<double>(elapsed).count();
  return seconds > 0 ? static_cast<double>(events) / seconds : 0;
}

// CPU time (user + system) this process has used so far.
inline std::chrono::microseconds ProcessCpuTime() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto micros = [](const timeval& tv) {
    return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  };
  return micros(usage.ru_utime) + micros(usage.ru_stime);
}

// Microseconds of CPU per event over an interval.
inline double CpuMicrosPer(size_t events, std::chrono::microseconds cpu) {
  return events > 0 ? static_cast<double>(cpu.count()) / static_cast<double>(events) : 0;
}

struct WsUrl {
  bool tls = false;    // wss://
  std::string host;
  std::string port;
  std::string target;  // path and query, "/" at least
};

// Parses "ws://host[:port][/path]" or "wss://…" (loopback only: the benchmarks compare the
// conductor's plain and TLS paths side by side).
inline std::optional<WsUrl> ParseWsUrl(std::string_view url) {
  WsUrl out;
  if (url.substr(0, 6) == "wss://") {
    out.tls = true;
    url.remove_prefix(6);
  } else if (url.substr(0, 5) == "ws://") {
    url.remove_prefix(5);
  } else {
    return std::nullopt;
  }
  auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    out.host = std::string(authority);
    out.port = out.tls ? "443" : "80";
  } else {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
  }
  if (out.host.empty() || out.port.empty()) return std::nullopt;
  return out;
}

}  // namespace ew::bench
