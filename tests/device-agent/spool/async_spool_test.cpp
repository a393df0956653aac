// AsyncSpool: the io thread queues, the writer thread does the disk work, completions come
// back on the io thread in order; stats are readable from any thread meanwhile; group commit
// happens without anyone asking.
#include "device-agent/spool/async_spool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <boost/asio/post.hpp>

#include "common/ids/ids.hpp"

namespace ew::agent::spool {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class AsyncSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.dir = fs::temp_directory_path() / ("ew-aspool-" + ids::NewId("t"));
    options_.segment_bytes = 64 << 10;
  }
  void TearDown() override {
    spool_.reset();
    std::error_code ec;
    fs::remove_all(options_.dir, ec);
  }
  void Open() {
    spool_.reset();
    auto opened = AsyncSpool::Open(io_, options_);
    ASSERT_TRUE(opened) << opened.error().message;
    spool_ = std::move(*opened);
  }
  // Runs the io loop until `done` or 20 s.
  void RunUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(5ms);
    }
    ASSERT_TRUE(done()) << "timed out";
  }

  boost::asio::io_context io_;
  SpoolOptions options_;
  std::unique_ptr<AsyncSpool> spool_;
};

TEST_F(AsyncSpoolTest, CompletionsComeBackOnTheIoThreadInOrder) {
  Open();
  const auto io_thread = std::this_thread::get_id();
  std::vector<uint64_t> seqs;
  bool wrong_thread = false;
  for (int i = 0; i < 100; ++i) {
    spool_->Append("s", "r" + std::to_string(i), [&](Result<uint64_t> seq) {
      wrong_thread = wrong_thread || std::this_thread::get_id() != io_thread;
      ASSERT_TRUE(seq);
      seqs.push_back(*seq);
    });
  }
  std::vector<Record> peeked;
  spool_->Peek("s", 0, PeekLimits{1000, 1u << 20}, [&](Result<std::vector<Record>> records) {
    ASSERT_TRUE(records);
    peeked = *records;  // queued after the appends: sees them all
  });
  RunUntil([&] { return peeked.size() == 100; });
  EXPECT_FALSE(wrong_thread);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
  EXPECT_EQ(peeked[42].data, "r42");
  bool acked = false;
  spool_->Ack("s", 100, [&](Result<void> r) { acked = r.has_value(); });
  RunUntil([&] { return acked; });
  EXPECT_EQ(spool_->Stats("s")->records, 0u);
}

TEST_F(AsyncSpoolTest, GroupCommitSyncsWithinTheInterval) {
  options_.sync = SyncPolicy{SyncMode::kGroupCommit, 20ms, 1000};
  Open();
  bool appended = false;
  spool_->Append("s", "x", [&](Result<uint64_t> seq) { appended = seq.has_value(); });
  RunUntil([&] { return appended; });
  RunUntil([&] { return spool_->Stats("s")->durable_seq == 1; });  // the timer's sync, not ours
}

TEST_F(AsyncSpoolTest, BadNameAndFullQueueAreReportedNotThrown) {
  options_.max_queued_bytes = 1000;
  Open();
  EXPECT_EQ(spool_->Configure("a/b", StreamLimits{}).error().code, ErrorCode::kInvalidArgument);
  std::vector<ErrorCode> codes;
  for (int i = 0; i < 20; ++i) {
    spool_->Append("s", std::string(400, 'x'), [&](Result<uint64_t> seq) {
      codes.push_back(seq ? ErrorCode::kCancelled : seq.error().code);
    });
  }
  RunUntil([&] { return codes.size() == 20; });
  const auto refused = std::count(codes.begin(), codes.end(), ErrorCode::kResourceExhausted);
  EXPECT_GT(refused, 0);
  RunUntil([&] { return spool_->Stats("s") && spool_->Stats("s")->refused == static_cast<uint64_t>(refused); });
}

// The io thread appends and drains (peek → ack) while another thread reads the stats: every
// record arrives once, in order. Run under ThreadSanitizer for the data-race side
// (tests/bench/README or docs/ARCHITECTURE.md, "Agent spool").
TEST_F(AsyncSpoolTest, ProducerAndDrainOnTheIoThreadWithStatsReaders) {
  options_.sync = SyncPolicy{SyncMode::kGroupCommit, 5ms, 64};
  Open();
  constexpr uint64_t kRecords = 5000;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      if (auto stats = spool_->Stats("s")) {
        EXPECT_LE(stats->first_seq, stats->next_seq);
      }
      (void)spool_->AllStats();
    }
  });
  uint64_t appended = 0;
  uint64_t delivered = 0;
  bool draining = false;
  bool in_order = true;
  std::function<void()> drain = [&] {
    if (draining) return;
    draining = true;
    spool_->Peek("s", 0, PeekLimits{100, 1u << 20}, [&](Result<std::vector<Record>> records) {
      ASSERT_TRUE(records);
      for (const auto& record : *records) {
        in_order = in_order && record.seq == delivered + 1 && record.data == std::to_string(record.seq);
        delivered = record.seq;
      }
      if (records->empty()) {
        draining = false;
        if (delivered < kRecords) boost::asio::post(io_, drain);
        return;
      }
      spool_->Ack("s", records->back().seq, [&](Result<void> acked) {
        ASSERT_TRUE(acked);
        draining = false;
        drain();
      });
    });
  };
  std::function<void()> produce = [&] {
    for (int i = 0; i < 50 && appended < kRecords; ++i) {
      ++appended;
      spool_->Append("s", std::to_string(appended));
    }
    drain();
    if (appended < kRecords) boost::asio::post(io_, produce);
  };
  boost::asio::post(io_, produce);
  RunUntil([&] { return delivered == kRecords; });
  stop = true;
  reader.join();
  EXPECT_TRUE(in_order);
  RunUntil([&] { return spool_->Stats("s")->records == 0; });
}

}  // namespace
}  // namespace ew::agent::spool
