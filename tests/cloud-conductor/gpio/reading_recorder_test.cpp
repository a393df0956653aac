// ReadingRecorder over an in-memory GpioStore and a real pool: batches (one transaction per
// batch, not per reading), the bounded queue dropping the oldest, invalid readings, store
// failures, flushing, and retention pruning by hand and on its timer (ManualClock).
#include "cloud-conductor/gpio/reading_recorder.hpp"

#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include <SQLiteCpp/Database.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "cloud-conductor/registry/migrations.hpp"
#include "tests/support/eventually.hpp"

namespace ew::conductor::gpio {
namespace {

using namespace std::chrono_literals;

int64_t Ns(Clock::TimePoint t) { return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(); }

using ::ew::test::Eventually;

class ReadingRecorderTest : public ::testing::Test {
 protected:
  ReadingRecorderTest() {
    auto store = GpioStore::Open(":memory:");
    if (!store) throw std::runtime_error(store.error().message);
    store_ = std::move(*store);
  }
  ~ReadingRecorderTest() override {
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
    pool_.join();
    recorder_.reset();
  }

  void MakeRecorder(RecorderOptions options = {}) {
    recorder_ = std::make_unique<ReadingRecorder>(*store_, pool_, io_.get_executor(), clock_, metrics_, options);
  }

  // Holds the pool's only thread until the returned promise is set.
  std::shared_ptr<std::promise<void>> BlockPool() {
    auto release = std::make_shared<std::promise<void>>();
    auto started = std::make_shared<std::promise<void>>();
    boost::asio::post(pool_, [release, started] {
      started->set_value();
      release->get_future().wait();
    });
    started->get_future().wait();
    return release;
  }

  Reading At(Clock::TimePoint t, int64_t seq) {
    Reading r;
    r.board_id = "brd-a";
    r.chip = "sim0";
    r.line = "GPIO4";
    r.offset = 4;
    r.time_ns = Ns(t);
    r.kind = ReadingKind::kEdge;
    r.value = static_cast<int>(seq % 2);
    r.edge = r.value ? "rising" : "falling";
    r.board_time_ns = seq * 1000;
    r.seq = seq;
    return r;
  }

  std::vector<Reading> Stored() {
    ReadingQuery q;
    q.board_id = "brd-a";
    q.limit = kMaxQueryLimit;
    auto page = store_->Query(q);
    return page ? page->readings : std::vector<Reading>{};
  }

  double Counter(const std::string& name, const metrics::Labels& labels = {}) {
    return metrics_.GetCounter(name, "", labels).Value();
  }

  ManualClock clock_;
  metrics::Registry metrics_;
  std::unique_ptr<GpioStore> store_;
  boost::asio::io_context io_;
  std::thread io_thread_;
  boost::asio::thread_pool pool_{1};
  std::unique_ptr<ReadingRecorder> recorder_;
};

TEST_F(ReadingRecorderTest, ReadingsAreStoredInBatchesInOrder) {
  RecorderOptions options;
  options.max_batch = 4'000;
  MakeRecorder(options);
  // While the pool is busy the readings queue up; released, they go in ceil(10000/4000) batches.
  auto release = BlockPool();
  for (int i = 0; i < 10'000; ++i) recorder_->Record(At(clock_.Now() + std::chrono::nanoseconds(i), i));
  EXPECT_EQ(recorder_->queued(), 10'000u);
  release->set_value();
  ASSERT_TRUE(Eventually([&] { return Counter("ew_gpio_readings_stored_total") == 10'000; }));
  EXPECT_EQ(metrics_.GetHistogram("ew_gpio_readings_batch_seconds", "").Count(), 3u);
  auto stored = Stored();
  ASSERT_EQ(stored.size(), 10'000u);
  for (int i = 0; i < 10'000; ++i) ASSERT_EQ(stored[i].seq, i);
  EXPECT_EQ(recorder_->queued(), 0u);
}

TEST_F(ReadingRecorderTest, AFullQueueDropsTheOldestAndCountsThem) {
  RecorderOptions options;
  options.max_queue = 100;
  MakeRecorder(options);
  auto release = BlockPool();
  for (int i = 0; i < 150; ++i) recorder_->Record(At(clock_.Now() + std::chrono::nanoseconds(i), i));
  EXPECT_EQ(recorder_->queued(), 100u);
  EXPECT_EQ(Counter("ew_gpio_readings_dropped_total", {{"reason", "queue_full"}}), 50);
  EXPECT_NE(metrics_.RenderPrometheus().find("ew_gpio_readings_dropped_total{reason=\"queue_full\"} 50"),
            std::string::npos);
  release->set_value();
  ASSERT_TRUE(Eventually([&] { return Counter("ew_gpio_readings_stored_total") == 100; }));
  auto stored = Stored();
  ASSERT_EQ(stored.size(), 100u);
  EXPECT_EQ(stored.front().seq, 50);
  EXPECT_EQ(stored.back().seq, 149);
}

TEST_F(ReadingRecorderTest, InvalidReadingsAreDroppedBeforeTheyCanFailABatch) {
  MakeRecorder();
  auto release = BlockPool();
  Reading bad = At(clock_.Now(), 1);
  bad.value = 7;
  recorder_->Record(At(clock_.Now(), 0));
  recorder_->Record(bad);
  recorder_->Record(At(clock_.Now(), 2));
  EXPECT_EQ(Counter("ew_gpio_readings_dropped_total", {{"reason", "invalid"}}), 1);
  release->set_value();
  ASSERT_TRUE(Eventually([&] { return Counter("ew_gpio_readings_stored_total") == 2; }));
  EXPECT_EQ(Stored().size(), 2u);
}

TEST_F(ReadingRecorderTest, AStoreFailureDropsTheBatchAndCountsIt) {
  const auto path = std::filesystem::temp_directory_path() / ("ew-recorder-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    ASSERT_TRUE(registry::ApplyMigrations(db));
  }
  auto store = GpioStore::Open(path.string());
  ASSERT_TRUE(store) << store.error().message;
  store_ = std::move(*store);
  MakeRecorder();
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("DROP TABLE gpio_readings");  // the disk "fails" under the store
  }
  recorder_->Record(At(clock_.Now(), 1));
  recorder_->Record(At(clock_.Now(), 2));
  recorder_->Flush();
  EXPECT_EQ(Counter("ew_gpio_readings_dropped_total", {{"reason", "store_error"}}), 2);
  EXPECT_EQ(Counter("ew_gpio_readings_stored_total"), 0);
  pool_.join();
  recorder_.reset();
  store_.reset();
  for (const auto& p : {path.string(), path.string() + "-wal", path.string() + "-shm"}) std::filesystem::remove(p);
}

TEST_F(ReadingRecorderTest, FlushAndDestructionStoreWhatIsQueued) {
  MakeRecorder();
  auto release = BlockPool();
  recorder_->Record(At(clock_.Now(), 1));
  recorder_->Flush();  // on this thread, though the pool is busy
  EXPECT_EQ(Stored().size(), 1u);
  recorder_->Record(At(clock_.Now(), 2));
  release->set_value();
  pool_.join();          // whatever the pool did, the queue is stored by the destructor at the latest
  recorder_.reset();
  EXPECT_EQ(Stored().size(), 2u);
}

TEST_F(ReadingRecorderTest, PruneDeletesReadingsPastTheRetention) {
  RecorderOptions options;
  options.retention = std::chrono::hours(24 * 30);
  options.prune_chunk = 3;  // several chunks
  MakeRecorder(options);
  for (int i = 0; i < 7; ++i) recorder_->Record(At(clock_.Now(), i));
  clock_.Advance(std::chrono::hours(24 * 20));
  recorder_->Record(At(clock_.Now(), 100));
  recorder_->Flush();
  clock_.Advance(std::chrono::hours(24 * 11));  // the first 7 are 31 days old, the last 11 days
  auto pruned = recorder_->PruneNow();
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_EQ(*pruned, 7);
  auto left = Stored();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].seq, 100);
  EXPECT_EQ(Counter("ew_gpio_readings_pruned_total"), 7);
}

TEST_F(ReadingRecorderTest, PrunesOnItsTimer) {
  RecorderOptions options;
  options.retention = std::chrono::hours(24);
  options.prune_interval = 5ms;
  MakeRecorder(options);
  recorder_->Record(At(clock_.Now(), 1));
  recorder_->Flush();
  io_thread_ = std::thread([this] {
    auto work = boost::asio::make_work_guard(io_);
    io_.run();
  });
  recorder_->Start();
  // The pool runs in order: once this marker ran, so had the prune at start (nothing was old).
  std::promise<void> marker;
  boost::asio::post(pool_, [&marker] { marker.set_value(); });
  marker.get_future().wait();
  ASSERT_EQ(Stored().size(), 1u);
  clock_.Advance(std::chrono::hours(25));
  EXPECT_TRUE(Eventually([&] { return Stored().empty(); })) << "the timer prunes again";
}

}  // namespace
}  // namespace ew::conductor::gpio
