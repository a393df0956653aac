// The agent spool's throughput on this machine's disk, through AsyncSpool as the agent uses it
// (writer thread, completions on an io thread): appends/s until every record is durable, and
// acknowledged records/s draining the backlog (peek + ack, as TriggerReporter does), with the
// default group commit and with an fsync per record, side by side and interleaved. Then the cost
// of acknowledged publication (issue 14): records appended one by one through AckedStream, each
// call answered by a conductor stand-in after --rtt (0 and the given value), timed until every
// record is acknowledged and gone from the spool.
//   ew_bench_spool [--dir DIR] [--records N] [--every-records N] [--bytes B] [--rounds R] [--rtt MS]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/contract/publish.hpp"
#include "device-agent/spool/acked_stream.hpp"
#include "device-agent/spool/async_spool.hpp"

namespace {

namespace fs = std::filesystem;
using ew::agent::spool::AsyncSpool;
using ew::agent::spool::PeekLimits;
using ew::agent::spool::Record;
using ew::agent::spool::SpoolOptions;
using ew::agent::spool::SyncMode;
using Clock = std::chrono::steady_clock;

struct Figures {
  double appends_per_s = 0;  // until the last append completed and a Sync after it returned
  double acked_per_s = 0;    // peek 64 + ack, until the stream is empty
};

void RunUntil(boost::asio::io_context& io, const std::function<bool()>& done) {
  while (!done()) {
    io.restart();
    io.run_one();
  }
}

Figures Measure(const fs::path& dir, SyncMode mode, uint64_t records, size_t bytes) {
  fs::remove_all(dir);
  boost::asio::io_context io;
  SpoolOptions options;
  options.dir = dir;
  options.sync.mode = mode;
  options.max_total_bytes = 1ull << 32;
  options.max_total_records = records + 1;
  options.default_limits.max_bytes = 1ull << 32;
  options.default_limits.max_records = records + 1;
  options.max_queued_bytes = 1ull << 32;
  auto opened = AsyncSpool::Open(io, options);
  if (!opened) {
    std::fprintf(stderr, "cannot open the spool in %s: %s\n", dir.c_str(), opened.error().message.c_str());
    std::exit(1);
  }
  auto spool = std::move(*opened);
  const std::string payload(bytes, 'r');
  Figures figures;

  uint64_t appended = 0;
  bool synced = false;
  auto start = Clock::now();
  for (uint64_t i = 0; i < records; ++i) {
    spool->Append("fn.report", payload, [&](ew::Result<uint64_t> seq) {
      if (!seq) {
        std::fprintf(stderr, "append failed: %s\n", seq.error().message.c_str());
        std::exit(1);
      }
      ++appended;
    });
  }
  spool->Sync([&](ew::Result<void>) { synced = true; });
  RunUntil(io, [&] { return appended == records && synced; });
  figures.appends_per_s = records / std::chrono::duration<double>(Clock::now() - start).count();

  uint64_t acked = 0;
  bool busy = false;
  start = Clock::now();
  std::function<void()> drain = [&] {
    busy = true;
    spool->Peek("fn.report", 0, PeekLimits{64, 1u << 20}, [&](ew::Result<std::vector<Record>> batch) {
      if (!batch || batch->empty()) {
        busy = false;
        return;
      }
      const uint64_t last = batch->back().seq;
      const size_t n = batch->size();
      spool->Ack("fn.report", last, [&, n](ew::Result<void>) {
        acked += n;
        drain();
      });
    });
  };
  drain();
  RunUntil(io, [&] { return !busy; });
  spool->Sync([&](ew::Result<void>) { synced = false; });
  RunUntil(io, [&] { return !synced; });
  figures.acked_per_s = acked / std::chrono::duration<double>(Clock::now() - start).count();
  if (acked != records) {
    std::fprintf(stderr, "drained %llu of %llu records\n", static_cast<unsigned long long>(acked),
                 static_cast<unsigned long long>(records));
    std::exit(1);
  }
  spool.reset();
  fs::remove_all(dir);
  return figures;
}

// The conductor's side of ew.conductor.publish, answering each call after `rtt` on the io thread.
class AnsweringConductor final : public ew::agent::rpc::ConductorClient {
 public:
  AnsweringConductor(boost::asio::io_context& io, std::chrono::milliseconds rtt) : io_(io), rtt_(rtt) {}
  void Call(const std::string&, ew::agent::rpc::Reply arguments, std::chrono::milliseconds,
            std::function<void(ew::Result<ew::agent::rpc::Reply>)> done) override {
    auto request = ew::contract::publish::PublishRequest::Parse(arguments);
    ew::contract::publish::PublishReply reply;
    reply.through = request->records.back().seq;
    reply.routed = request->records.size();
    auto answer = [done = std::move(done), payload = reply.ToPayload()] { done(payload); };
    if (rtt_.count() == 0) return boost::asio::post(io_, std::move(answer));
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, rtt_);
    timer->async_wait([timer, answer = std::move(answer)](const boost::system::error_code&) { answer(); });
  }
  bool Publish(const std::string&, const ew::agent::rpc::Reply&) override { return false; }

 private:
  boost::asio::io_context& io_;
  std::chrono::milliseconds rtt_;
};

// Records/s appended through AckedStream (window 4 x 64) until all are acknowledged.
double MeasureAcked(const fs::path& dir, uint64_t records, size_t bytes, std::chrono::milliseconds rtt) {
  fs::remove_all(dir);
  boost::asio::io_context io;
  SpoolOptions options;
  options.dir = dir;
  options.max_total_bytes = 1ull << 32;
  options.max_total_records = records + 1;
  options.default_limits.max_bytes = 1ull << 32;
  options.default_limits.max_records = records + 1;
  options.max_queued_bytes = 1ull << 32;
  auto spool = std::move(*AsyncSpool::Open(io, options));
  AnsweringConductor conductor(io, rtt);
  ew::agent::spool::AckedStream stream(io, *spool, "gpio.event", "ew.board.b.gpio.event",
                                       [](const Record& r) -> std::optional<ew::agent::rpc::Reply> {
                                         ew::agent::rpc::Reply event;
                                         event.kwargs = {{"data", r.data}};
                                         return event;
                                       });
  stream.SetConductor(&conductor);
  stream.SetOnline(true);
  const std::string payload(bytes, 'r');
  const auto start = Clock::now();
  for (uint64_t i = 0; i < records; ++i) stream.Append(payload);
  RunUntil(io, [&] { return stream.acked_seq() == records; });
  const double per_s = records / std::chrono::duration<double>(Clock::now() - start).count();
  return per_s;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Agent spool throughput: group commit vs fsync per record"};
  std::string dir = (fs::current_path() / "spool-bench").string();
  uint64_t records = 50'000;
  uint64_t every_records = 2'000;
  size_t bytes = 256;
  int rounds = 3;
  app.add_option("--dir", dir, "spool directory (on the disk to measure; removed afterwards)");
  app.add_option("--records", records, "records per round with group commit");
  app.add_option("--every-records", every_records, "records per round with an fsync per record");
  app.add_option("--bytes", bytes, "bytes per record");
  app.add_option("--rounds", rounds, "rounds (interleaved); medians are reported");
  int rtt_ms = 20;
  app.add_option("--rtt", rtt_ms, "round trip of the conductor stand-in for acknowledged publication (ms)");
  CLI11_PARSE(app, argc, argv);

  std::vector<double> group_append, group_ack, every_append, every_ack, acked_0, acked_rtt;
  for (int round = 0; round < rounds; ++round) {
    Figures group = Measure(dir, SyncMode::kGroupCommit, records, bytes);
    Figures every = Measure(dir, SyncMode::kEveryRecord, every_records, bytes);
    acked_0.push_back(MeasureAcked(dir, records, bytes, std::chrono::milliseconds(0)));
    acked_rtt.push_back(MeasureAcked(dir, records, bytes, std::chrono::milliseconds(rtt_ms)));
    std::fprintf(stderr, "round %d: acknowledged publication %.0f records/s (rtt 0), %.0f records/s (rtt %d ms)\n",
                 round + 1, acked_0.back(), acked_rtt.back(), rtt_ms);
    group_append.push_back(group.appends_per_s);
    group_ack.push_back(group.acked_per_s);
    every_append.push_back(every.appends_per_s);
    every_ack.push_back(every.acked_per_s);
    std::fprintf(stderr, "round %d: group %.0f appends/s %.0f acked/s; every-record %.0f appends/s %.0f acked/s\n",
                 round + 1, group.appends_per_s, group.acked_per_s, every.appends_per_s, every.acked_per_s);
  }
  std::printf("| fsync policy | records x bytes | appends/s (to durable) | acked records/s |\n");
  std::printf("|---|---|---|---|\n");
  std::printf("| group commit (default: 200 ms or 256 records) | %llu x %zu | %.0f | %.0f |\n",
              static_cast<unsigned long long>(records), bytes, Median(group_append), Median(group_ack));
  std::printf("| fdatasync every record | %llu x %zu | %.0f | %.0f |\n", static_cast<unsigned long long>(every_records),
              bytes, Median(every_append), Median(every_ack));
  std::printf("\n| acknowledged publication (AckedStream, window 4 x 64, group commit) | records x bytes | records/s appended to acknowledged |\n");
  std::printf("|---|---|---|\n");
  std::printf("| conductor answers at once | %llu x %zu | %.0f |\n", static_cast<unsigned long long>(records), bytes,
              Median(acked_0));
  std::printf("| conductor answers after %d ms | %llu x %zu | %.0f |\n", rtt_ms, static_cast<unsigned long long>(records),
              bytes, Median(acked_rtt));
  return 0;
}
