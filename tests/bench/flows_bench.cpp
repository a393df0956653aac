// Flow runtime benchmarks (docs/BENCHMARKS.md, "Flows"), printed as one JSON object:
//  - chain: messages/s through link in → 10 change nodes → debug (inactive), fed in batches the
//    size of a node's input queue so that nothing is dropped;
//  - flood: 200,000 messages offered at once to the same chain, then run to completion: how many
//    the bounded queues dropped and the process RSS before and after (it must stay bounded).
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

Partition Chain(int changes) {
  Partition p;
  p.flow = "bench";
  p.version = 1;
  Node in;
  in.id = "in";
  in.type = "link in";
  in.wires = {{"c0"}};
  p.nodes.push_back(in);
  for (int i = 0; i < changes; ++i) {
    Node c;
    c.id = "c" + std::to_string(i);
    c.type = "change";
    c.wires = {{i + 1 < changes ? "c" + std::to_string(i + 1) : "out"}};
    c.props = {{"rules", json::array({{{"t", "set"}, {"p", "payload.step"}, {"pt", "msg"}, {"to", std::to_string(i)}, {"tot", "num"}},
                                      {{"t", "set"}, {"p", "topic"}, {"pt", "msg"}, {"to", "bench"}, {"tot", "str"}}})}};
    p.nodes.push_back(c);
  }
  Node out;
  out.id = "out";
  out.type = "debug";
  out.props = {{"active", true}, {"complete", "payload"}};
  p.nodes.push_back(out);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Edgewire flow runtime benchmark"};
  int messages = 200'000;
  int changes = 10;
  app.add_option("--messages", messages);
  app.add_option("--changes", changes);
  CLI11_PARSE(app, argc, argv);

  ew::SystemClock clock;
  json result;
  {
    boost::asio::io_context io;
    CountingHost host;
    runtime::FlowRuntime rt(io, clock, host);
    if (auto loaded = rt.Load(Chain(changes), nodes::BuiltinNodes()); !loaded || !rt.Start()) {
      std::cerr << "load failed\n";
      return 1;
    }
    auto start = std::chrono::steady_clock::now();
    ew::bench::FeedInBatches(rt, io, "in", messages, [](int n) { return json{{"_msgid", "m"}, {"payload", {{"n", n}}}}; });
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result["chain"] = {{"changes", changes}, {"messages", messages}, {"delivered", host.debug}, {"dropped", rt.dropped()},
                       {"msgs_per_s", messages / seconds}};
  }
  {
    boost::asio::io_context io;
    CountingHost host;
    runtime::FlowRuntime rt(io, clock, host);
    if (auto loaded = rt.Load(Chain(changes), nodes::BuiltinNodes()); !loaded || !rt.Start()) return 1;
    long before = RssKb();
    long peak = before;
    for (int i = 0; i < messages; ++i) {
      rt.DeliverTo("in", {{"_msgid", "m"}, {"payload", {{"n", i}, {"text", "a flood of messages"}}}});
      if (i % 10'000 == 0) peak = std::max(peak, RssKb());
    }
    peak = std::max(peak, RssKb());
    io.run();
    result["flood"] = {{"offered", messages}, {"delivered", host.debug}, {"dropped", rt.dropped()},
                       {"rss_kb_before", before}, {"rss_kb_peak", peak}, {"rss_kb_after", RssKb()}};
  }
  std::cout << result.dump() << "\n";
  return 0;
}
