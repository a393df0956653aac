// Function-node benchmark (docs/BENCHMARKS.md, "Flows": function node), printed as one JSON object:
//  - throughput: messages/s through link in → function `msg.payload = msg.payload * 2; return msg;`
//    → debug (inactive; the host counts), fed in batches of 1,000 (a node's input queue) after a
//    warm-up, once with messages pushed into the heap directly and once through JSON text;
//  - per_node: what one function node with that code costs, from a partition of --nodes unwired
//    function nodes: RSS and malloc'ed bytes (mallinfo2) after Start() minus before Load().
// tests/bench/run_function_bench.py runs it beside the same flows in Node-RED 4.1.
#include <malloc.h>
#include <time.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "common/clock/clock.hpp"
#include "flows/nodes/builtin_nodes.hpp"
#include "flows/runtime/flow_runtime.hpp"
#include "tests/bench/flow_bench_support.hpp"

namespace {

using nlohmann::json;
using namespace ew::flows;
using ew::bench::CountingHost;
using ew::bench::RssKb;

constexpr const char* kCode = "msg.payload = msg.payload * 2; return msg;";

// CPU seconds of this process: the machine the figures come from is shared, so messages per CPU
// second are reported beside messages per wall second.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

Node Function(std::string id, std::vector<std::vector<std::string>> wires) {
  Node fn;
  fn.id = std::move(id);
  fn.type = "function";
  fn.tab = "t1";
  fn.wires = std::move(wires);
  fn.props = {{"func", kCode}, {"outputs", 1}, {"timeout", 0}, {"initialize", ""}, {"finalize", ""}, {"libs", json::array()}};
  return fn;
}

Partition Throughput() {
  Partition p;
  p.flow = "bench";
  p.version = 1;
  Node in;
  in.id = "in";
  in.type = "link in";
  in.tab = "t1";
  in.wires = {{"fn"}};
  Node out;
  out.id = "out";
  out.type = "debug";
  out.tab = "t1";
  out.props = {{"active", true}, {"complete", "payload"}};
  p.nodes = {in, Function("fn", {{"out"}}), out};
  return p;
}

json RunThroughput(const ew::Clock& clock, int messages, bool text) {
  boost::asio::io_context io;
  CountingHost host;
  runtime::RuntimeOptions options;
  options.function_text_conversion = text;
  runtime::FlowRuntime rt(io, clock, host, options);
  if (auto loaded = rt.Load(Throughput(), nodes::BuiltinNodes()); !loaded) {
    std::cerr << "load failed: " << loaded.error().message << "\n";
    std::exit(1);
  }
  if (!rt.Start()) std::exit(1);
  auto feed = [&](int count, int offset) {
    ew::bench::FeedInBatches(rt, io, "in", count, [offset](int n) { return json{{"_msgid", "m"}, {"payload", offset + n}}; });
  };
  const int warmup = 20'000;
  feed(warmup, 0);
  const uint64_t base = host.debug;
  auto start = std::chrono::steady_clock::now();
  const double cpu_start = CpuSeconds();
  feed(messages, warmup);
  const double cpu = CpuSeconds() - cpu_start;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {{"conversion", text ? "json-text" : "direct"}, {"messages", messages}, {"delivered", host.debug - base},
          {"dropped", rt.dropped()}, {"seconds", seconds}, {"cpu_seconds", cpu}, {"msgs_per_s", messages / seconds},
          {"msgs_per_cpu_s", messages / cpu}, {"last_payload", host.last}};
}

json PerNode(const ew::Clock& clock, int count) {
  boost::asio::io_context io;
  CountingHost host;
  Partition p;
  p.flow = "bench";
  p.version = 1;
  for (int i = 0; i < count; ++i) p.nodes.push_back(Function("fn" + std::to_string(i), {{}}));
  malloc_trim(0);
  const long rss_before = RssKb();
  const size_t heap_before = mallinfo2().uordblks;
  auto rt = std::make_unique<runtime::FlowRuntime>(io, clock, host);
  if (auto loaded = rt->Load(std::move(p), nodes::BuiltinNodes()); !loaded || !rt->Start()) std::exit(1);
  const long rss_after = RssKb();
  const size_t heap_after = mallinfo2().uordblks;
  return {{"nodes", count},
          {"rss_kb_before", rss_before},
          {"rss_kb_after", rss_after},
          {"rss_kb_per_node", static_cast<double>(rss_after - rss_before) / count},
          {"malloc_kb_per_node", static_cast<double>(heap_after - heap_before) / 1024.0 / count}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Edgewire function node benchmark"};
  int messages = 200'000;
  int nodes = 100;
  app.add_option("--messages", messages);
  app.add_option("--nodes", nodes);
  CLI11_PARSE(app, argc, argv);
  ew::SystemClock clock;
  json result;
  result["per_node"] = PerNode(clock, nodes);  // first, before the other runs grow the process
  result["throughput"] = RunThroughput(clock, messages, false);
  result["throughput_text"] = RunThroughput(clock, messages, true);
  std::cout << result.dump() << "\n";
  return 0;
}
