// What the flow runtime benchmarks (flows_bench, function_bench) share: a host that counts what
// reaches debug nodes and does nothing else, the process's resident memory, and feeding messages
// in batches with the runtime's loop run between batches. Header-only, like bench_support.hpp.
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "flows/runtime/flow_runtime.hpp"

namespace ew::bench {

// Answers every GPIO and function request at once, drops wires, counts debug output and keeps
// the last message that reached a debug node.
class CountingHost : public flows::runtime::Host {
 public:
  Result<void> WatchGpio(const std::string&, const flows::runtime::GpioWatchSpec&,
                         std::function<void(flows::runtime::GpioEdge)>) override {
    return Ok();
  }
  Result<int> ReadGpio(const std::string&) override { return 0; }
  Result<void> WriteGpio(const std::string&, const std::string&, int) override { return Ok(); }
  void ReleaseGpio(const std::string&) override {}
  void InvokeFunction(const flows::runtime::FunctionCall&, std::function<void(Result<nlohmann::json>)> done) override {
    done(nlohmann::json());
  }
  void PublishWire(const std::string&, nlohmann::json) override {}
  void Debug(const flows::runtime::DebugEvent& event) override {
    ++debug;
    last = event.msg;
  }
  void Status(const std::string&, const nlohmann::json&) override {}

  uint64_t debug = 0;
  nlohmann::json last;
};

// VmRSS of this process in KiB (-1 when /proc is unreadable).
inline long RssKb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// Delivers `count` messages, make(i) for i in [0, count), to node `to`, running `io` after every
// `batch` of them so that the runtime's queue never holds more than one batch.
inline void FeedInBatches(flows::runtime::FlowRuntime& rt, boost::asio::io_context& io, const std::string& to,
                          int count, const std::function<nlohmann::json(int)>& make, int batch = 1000) {
  for (int sent = 0; sent < count;) {
    for (int i = 0; i < batch && sent < count; ++i, ++sent) rt.DeliverTo(to, make(sent));
    io.restart();
    io.run();
  }
}

}  // namespace ew::bench
