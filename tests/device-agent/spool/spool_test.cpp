// Spool on a real directory: order, acknowledgement, restart recovery, torn and corrupt
// records, bounds and drop policies, many streams, and power cuts (FaultInjectionFs).
#include "device-agent/spool/spool.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/ids/ids.hpp"
#include "tests/device-agent/spool/fault_injection_fs.hpp"

namespace ew::agent::spool {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ew-spool-" + ids::NewId("t"));
    options_.dir = dir_;
    options_.segment_bytes = 4096;
    options_.sync.mode = SyncMode::kNever;
  }
  void TearDown() override {
    spool_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Open(std::unique_ptr<SpoolFs> fs = nullptr) {
    spool_.reset();
    auto opened = Spool::Open(options_, std::move(fs));
    ASSERT_TRUE(opened) << opened.error().message;
    spool_ = std::move(*opened);
  }

  uint64_t Append(const std::string& stream, const std::string& data) {
    auto seq = spool_->Append(stream, data);
    EXPECT_TRUE(seq) << seq.error().message;
    return seq ? *seq : 0;
  }

  std::vector<Record> PeekAll(const std::string& stream, uint64_t after = 0) {
    auto records = spool_->Peek(stream, after, PeekLimits{1'000'000, 1u << 30});
    EXPECT_TRUE(records) << records.error().message;
    return records ? *records : std::vector<Record>{};
  }

  std::vector<fs::path> Segments(const std::string& stream) const {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(dir_ / stream))
      if (entry.path().extension() == ".seg") out.push_back(entry.path());
    std::sort(out.begin(), out.end());
    return out;
  }

  static std::string Payload(uint64_t i, size_t bytes = 40) {
    std::string text = "record-" + std::to_string(i) + "-";
    text.resize(bytes, 'x');
    return text;
  }

  fs::path dir_;
  SpoolOptions options_;
  std::unique_ptr<Spool> spool_;
};

TEST_F(SpoolTest, AppendPeekAckInOrder) {
  Open();
  for (uint64_t i = 1; i <= 10; ++i) EXPECT_EQ(Append("fn.report", Payload(i)), i);
  auto first = spool_->Peek("fn.report", 0, PeekLimits{4, 1u << 20});
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 4u);
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*first)[i].seq, i + 1);
    EXPECT_EQ((*first)[i].data, Payload(i + 1));
  }
  // Peek removes nothing; after_seq lets a sender keep several batches in flight.
  EXPECT_EQ(PeekAll("fn.report").size(), 10u);
  auto pipelined = PeekAll("fn.report", 4);
  ASSERT_EQ(pipelined.size(), 6u);
  EXPECT_EQ(pipelined.front().seq, 5u);

  ASSERT_TRUE(spool_->Ack("fn.report", 5));
  auto rest = PeekAll("fn.report");
  ASSERT_EQ(rest.size(), 5u);
  EXPECT_EQ(rest.front().seq, 6u);
  auto stats = spool_->Stats("fn.report");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->first_seq, 6u);
  EXPECT_EQ(stats->next_seq, 11u);
  EXPECT_EQ(stats->records, 5u);
  EXPECT_EQ(stats->acked_seq, 5u);
  // An old ack changes nothing; an ack past the end takes everything.
  ASSERT_TRUE(spool_->Ack("fn.report", 2));
  EXPECT_EQ(PeekAll("fn.report").size(), 5u);
  ASSERT_TRUE(spool_->Ack("fn.report", 1000));
  EXPECT_TRUE(PeekAll("fn.report").empty());
  EXPECT_EQ(Append("fn.report", "next"), 11u);
  EXPECT_EQ(spool_->Ack("no.such", 1).error().code, ErrorCode::kNotFound);
}

TEST_F(SpoolTest, PeekByteLimitStillReturnsOneRecord) {
  Open();
  Append("s", std::string(1000, 'a'));
  Append("s", std::string(1000, 'b'));
  auto records = spool_->Peek("s", 0, PeekLimits{10, 10});
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 1u);
  records = spool_->Peek("s", 0, PeekLimits{10, 1500});
  ASSERT_EQ(records->size(), 1u);
  records = spool_->Peek("s", 0, PeekLimits{10, 2000});
  ASSERT_EQ(records->size(), 2u);
}

TEST_F(SpoolTest, RecordsAndAcksSurviveARestart) {
  Open();
  for (uint64_t i = 1; i <= 200; ++i) Append("gpio.event", Payload(i, 100));  // several segments
  ASSERT_TRUE(spool_->Ack("gpio.event", 120));
  Open();  // a new process
  auto records = PeekAll("gpio.event");
  ASSERT_EQ(records.size(), 80u);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].seq, 121 + i);
    EXPECT_EQ(records[i].data, Payload(121 + i, 100));
  }
  EXPECT_EQ(Append("gpio.event", "after restart"), 201u);
  EXPECT_EQ(spool_->Stats("gpio.event")->corrupt_records, 0u);
}

TEST_F(SpoolTest, FullyAcknowledgedSegmentsAreDeleted) {
  Open();
  for (uint64_t i = 1; i <= 100; ++i) Append("s", Payload(i, 200));  // ~216 bytes framed, 19 a segment
  const size_t before = Segments("s").size();
  EXPECT_GE(before, 5u);
  ASSERT_TRUE(spool_->Ack("s", 60));
  const size_t after = Segments("s").size();
  EXPECT_LT(after, before);
  EXPECT_EQ(spool_->Stats("s")->segments, after);
  ASSERT_TRUE(spool_->Ack("s", 100));
  EXPECT_EQ(Segments("s").size(), 1u);  // the tail stays, to take the next record
  Open();
  EXPECT_TRUE(PeekAll("s").empty());
  EXPECT_EQ(Append("s", "x"), 101u);
}

TEST_F(SpoolTest, TornTailIsTruncatedAndNeverDelivered) {
  Open();
  for (uint64_t i = 1; i <= 5; ++i) Append("s", Payload(i));
  spool_.reset();
  const fs::path segment = Segments("s").back();
  fs::resize_file(segment, fs::file_size(segment) - 3);  // a crash mid-write of record 5
  Open();
  auto records = PeekAll("s");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records.back().data, Payload(4));
  auto stats = spool_->Stats("s");
  EXPECT_EQ(stats->corrupt_records, 1u);
  EXPECT_GT(stats->corrupt_bytes, 0u);
  // Record 5 was never whole, so its seq is given again.
  EXPECT_EQ(Append("s", "new 5"), 5u);
  Open();
  records = PeekAll("s");
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records.back().data, "new 5");
  EXPECT_EQ(spool_->Stats("s")->corrupt_records, 1u);  // persisted with the stream
}

TEST_F(SpoolTest, FlippedByteDropsTheRecordAndEverythingAfter) {
  Open();
  for (uint64_t i = 1; i <= 10; ++i) Append("s", Payload(i));
  spool_.reset();
  const fs::path segment = Segments("s").front();
  {
    std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff record4 = 3 * (16 + 40) + 16 + 5;  // a byte of record 4's data
    file.seekg(record4);
    char c = 0;
    file.read(&c, 1);
    file.seekp(record4);
    c ^= 0x01;
    file.write(&c, 1);
  }
  Open();
  auto records = PeekAll("s");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records.back().seq, 3u);
  auto stats = spool_->Stats("s");
  EXPECT_EQ(stats->corrupt_records, 7u);  // record 4 and the 6 whole ones after it
  EXPECT_EQ(stats->corrupt_bytes, 7u * (16 + 40));
  // Records 4..10 may have left the board before the damage: their seqs are not given again.
  auto seq = spool_->Append("s", "after");
  ASSERT_TRUE(seq);
  EXPECT_GT(*seq, 10u);
  records = PeekAll("s");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records.back().data, "after");
  Open();
  EXPECT_EQ(PeekAll("s").size(), 4u);
}

TEST_F(SpoolTest, CorruptionInAnEarlierSegmentDropsTheLaterSegments) {
  Open();
  for (uint64_t i = 1; i <= 100; ++i) Append("s", Payload(i, 200));
  spool_.reset();
  auto segments = Segments("s");
  ASSERT_GE(segments.size(), 3u);
  {
    std::fstream file(segments[1], std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(20);
    file.write("XYZ", 3);
  }
  Open();
  auto records = PeekAll("s");
  ASSERT_FALSE(records.empty());
  EXPECT_LT(records.size(), 40u);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].seq, i + 1);  // an intact prefix
  EXPECT_EQ(Segments("s").size(), 2u);
  EXPECT_EQ(spool_->Stats("s")->corrupt_records, 100u - records.size());
}

TEST_F(SpoolTest, DropOldestKeepsTheNewestAndCounts) {
  Open();
  ASSERT_TRUE(spool_->Configure("s", StreamLimits{1u << 20, 5, DropPolicy::kDropOldest}));
  for (uint64_t i = 1; i <= 8; ++i) EXPECT_EQ(Append("s", Payload(i)), i);
  auto records = PeekAll("s");
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records.front().seq, 4u);
  EXPECT_EQ(spool_->Stats("s")->dropped_oldest, 3u);
  // By bytes: 3 records of 56 framed bytes fit in 200.
  ASSERT_TRUE(spool_->Configure("b", StreamLimits{200, 100, DropPolicy::kDropOldest}));
  for (uint64_t i = 1; i <= 5; ++i) Append("b", Payload(i));
  EXPECT_EQ(PeekAll("b").size(), 3u);
  EXPECT_EQ(spool_->Stats("b")->dropped_oldest, 2u);
  EXPECT_LE(spool_->Stats("b")->bytes, 200u);
  // The counters outlive a restart.
  spool_->Sync();
  Open();
  EXPECT_EQ(spool_->Stats("s")->dropped_oldest, 3u);
  EXPECT_EQ(PeekAll("s").front().seq, 4u);
}

TEST_F(SpoolTest, RefuseNewestKeepsTheOldestAndCounts) {
  Open();
  ASSERT_TRUE(spool_->Configure("s", StreamLimits{1u << 20, 5, DropPolicy::kRefuseNewest}));
  for (uint64_t i = 1; i <= 5; ++i) Append("s", Payload(i));
  auto refused = spool_->Append("s", Payload(6));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(spool_->Stats("s")->refused, 1u);
  auto records = PeekAll("s");
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records.back().seq, 5u);
  // Room again once acknowledged; the seq goes on from the last stored record.
  ASSERT_TRUE(spool_->Ack("s", 2));
  EXPECT_EQ(Append("s", Payload(6)), 6u);
}

TEST_F(SpoolTest, TotalBoundTakesFromTheLargestDropOldestStream) {
  options_.max_total_records = 10;
  Open();
  ASSERT_TRUE(spool_->Configure("keep", StreamLimits{1u << 20, 100, DropPolicy::kRefuseNewest}));
  for (uint64_t i = 1; i <= 4; ++i) Append("keep", Payload(i));
  for (uint64_t i = 1; i <= 6; ++i) Append("flood", Payload(i));
  // Full: a record for "keep" takes the place of flood's oldest.
  EXPECT_EQ(Append("keep", Payload(5)), 5u);
  EXPECT_EQ(spool_->Stats("flood")->dropped_oldest, 1u);
  EXPECT_EQ(PeekAll("keep").size(), 5u);
  EXPECT_EQ(spool_->TotalRecords(), 10u);
  // With flood empty nothing can give way.
  ASSERT_TRUE(spool_->Ack("flood", 100));
  for (uint64_t i = 6; i <= 10; ++i) Append("keep", Payload(i));
  auto refused = spool_->Append("keep", "one more");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(spool_->Stats("keep")->refused, 1u);
}

TEST_F(SpoolTest, BadInputIsRefusedAndChangesNothing) {
  options_.max_record_bytes = 100;
  Open();
  auto big = spool_->Append("s", std::string(101, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kInvalidArgument);
  for (const char* name : {"", ".hidden", "a/b", "../up", "sp ace"}) {
    auto bad = spool_->Append(name, "x");
    ASSERT_FALSE(bad) << name;
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(spool_->Configure("s", StreamLimits{0, 1, DropPolicy::kDropOldest}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(spool_->Stats("s"));
  EXPECT_TRUE(spool_->AllStats().empty());
  SpoolOptions bad = options_;
  bad.segment_bytes = 10;
  EXPECT_EQ(Spool::Open(bad).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(SpoolTest, ManyStreamsKeepTheirOwnOrderAcrossARestart) {
  Open();
  constexpr int kStreams = 40;
  for (int round = 1; round <= 25; ++round) {
    for (int s = 0; s < kStreams; ++s) Append("flow.f1.wire.n" + std::to_string(s) + ".0", Payload(round * 100 + s));
  }
  for (int s = 0; s < kStreams; s += 2) ASSERT_TRUE(spool_->Ack("flow.f1.wire.n" + std::to_string(s) + ".0", 10));
  Open();
  EXPECT_EQ(spool_->AllStats().size(), static_cast<size_t>(kStreams));
  for (int s = 0; s < kStreams; ++s) {
    auto records = PeekAll("flow.f1.wire.n" + std::to_string(s) + ".0");
    const uint64_t first = s % 2 == 0 ? 11 : 1;
    ASSERT_EQ(records.size(), 26 - first);
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(records[i].seq, first + i);
      EXPECT_EQ(records[i].data, Payload((first + i) * 100 + s));
    }
  }
}

TEST_F(SpoolTest, FullDiskFailsTheAppendAndStoresNothing) {
  auto state = std::make_shared<testing::FaultState>();
  Open(std::make_unique<testing::FaultInjectionFs>(state));
  Append("s", Payload(1));
  state->fail_writes = true;
  auto failed = spool_->Append("s", Payload(2));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kResourceExhausted);
  state->fail_writes = false;
  EXPECT_EQ(Append("s", Payload(2)), 2u);
  Open();
  ASSERT_EQ(PeekAll("s").size(), 2u);
}

// Power cuts: what the spool has synced survives, what it has not may go, nothing is torn.
class SpoolPowerCutTest : public SpoolTest {
 protected:
  void OpenFaulty() { Open(std::make_unique<testing::FaultInjectionFs>(state_)); }
  void PowerCut() {
    spool_.release();  // the process dies: no destructor, no final sync (leaks the object)
    testing::FaultInjectionFs::DropUnsyncedData(*state_);
  }
  std::shared_ptr<testing::FaultState> state_ = std::make_shared<testing::FaultState>();
};

TEST_F(SpoolPowerCutTest, GroupCommitLosesOnlyWhatWasNotSynced) {
  options_.sync = SyncPolicy{SyncMode::kGroupCommit, std::chrono::milliseconds(200), 4};
  OpenFaulty();
  for (uint64_t i = 1; i <= 10; ++i) Append("s", Payload(i));
  // Synced after records 4 and 8 (max_unsynced_records): durable up to 8.
  EXPECT_EQ(spool_->Stats("s")->durable_seq, 8u);
  PowerCut();
  OpenFaulty();
  auto records = PeekAll("s");
  ASSERT_EQ(records.size(), 8u);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].data, Payload(i + 1));
  EXPECT_EQ(spool_->Stats("s")->corrupt_records, 0u);
}

TEST_F(SpoolPowerCutTest, EveryRecordModeLosesNothing) {
  options_.sync = SyncPolicy{SyncMode::kEveryRecord, std::chrono::milliseconds(200), 1};
  options_.segment_bytes = 4096;
  OpenFaulty();
  for (uint64_t i = 1; i <= 100; ++i) Append("s", Payload(i, 100));  // across segment rolls
  PowerCut();
  OpenFaulty();
  auto records = PeekAll("s");
  ASSERT_EQ(records.size(), 100u);
  EXPECT_EQ(records.back().data, Payload(100, 100));
}

TEST_F(SpoolPowerCutTest, SyncedAcksHoldAndUnsyncedOnesRedeliver) {
  options_.sync = SyncPolicy{SyncMode::kGroupCommit, std::chrono::milliseconds(200), 1000};
  OpenFaulty();
  for (uint64_t i = 1; i <= 10; ++i) Append("s", Payload(i));
  ASSERT_TRUE(spool_->Ack("s", 3));
  ASSERT_TRUE(spool_->Sync());
  ASSERT_TRUE(spool_->Ack("s", 6));  // not synced: may come again, never lost
  PowerCut();
  OpenFaulty();
  auto records = PeekAll("s");
  ASSERT_EQ(records.size(), 7u);
  EXPECT_EQ(records.front().seq, 4u);
}

TEST_F(SpoolPowerCutTest, WithoutAnySyncNothingHalfWrittenAppears) {
  OpenFaulty();  // kNever
  for (uint64_t i = 1; i <= 50; ++i) Append("s", Payload(i, 150));  // rolls sync the closed segments
  const uint64_t durable = spool_->Stats("s")->durable_seq;
  PowerCut();
  OpenFaulty();
  auto records = PeekAll("s");
  EXPECT_GE(records.size(), durable);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].data, Payload(i + 1, 150));
}

}  // namespace
}  // namespace ew::agent::spool
