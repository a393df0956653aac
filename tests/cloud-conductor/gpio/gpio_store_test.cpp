// GpioStore on in-memory SQLite (and once on a registry file): round trips, line forms, time
// ranges, limits, pruning, bad input that stores nothing, and a deleted board's history.
#include "cloud-conductor/gpio/gpio_store.hpp"

#include <unistd.h>

#include <filesystem>

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include "cloud-conductor/registry/store.hpp"

namespace ew::conductor::gpio {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000'000;  // ns since the epoch

Reading Read(const std::string& board, const std::string& line, int64_t offset, int64_t time_ns, int value,
             const std::string& chip = "sim0") {
  Reading r;
  r.board_id = board;
  r.chip = chip;
  r.line = line;
  r.offset = offset;
  r.time_ns = time_ns;
  r.kind = ReadingKind::kRead;
  r.value = value;
  return r;
}

Reading Edge(const std::string& board, const std::string& line, int64_t offset, int64_t time_ns, int value,
             int64_t seq) {
  Reading r = Read(board, line, offset, time_ns, value);
  r.kind = ReadingKind::kEdge;
  r.edge = value ? "rising" : "falling";
  r.board_time_ns = 5'000 + seq;
  r.seq = seq;
  return r;
}

class GpioStoreTest : public ::testing::Test {
 protected:
  GpioStoreTest() {
    auto store = GpioStore::Open(":memory:");
    if (!store) throw std::runtime_error(store.error().message);
    store_ = std::move(*store);
  }

  std::vector<Reading> All(const std::string& board, const std::string& line = "") {
    ReadingQuery q;
    q.board_id = board;
    q.line = line;
    q.limit = kMaxQueryLimit;
    auto page = store_->Query(q);
    EXPECT_TRUE(page) << page.error().message;
    return page ? page->readings : std::vector<Reading>{};
  }

  std::unique_ptr<GpioStore> store_;
};

TEST_F(GpioStoreTest, ReadingsComeBackWithEveryFieldOldestFirst) {
  Reading write = Read("brd-a", "GPIO17", 17, kT0 + 30, 1);
  write.kind = ReadingKind::kWrite;
  ASSERT_TRUE(store_->Insert({Edge("brd-a", "GPIO4", 4, kT0 + 20, 1, 7), Read("brd-a", "GPIO4", 4, kT0 + 10, 0),
                              write}));
  auto all = All("brd-a");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].time_ns, kT0 + 10);
  EXPECT_EQ(all[0].kind, ReadingKind::kRead);
  EXPECT_FALSE(all[0].seq);
  EXPECT_TRUE(all[0].edge.empty());
  const Reading& edge = all[1];
  EXPECT_EQ(edge.kind, ReadingKind::kEdge);
  EXPECT_EQ(edge.board_id, "brd-a");
  EXPECT_EQ(edge.chip, "sim0");
  EXPECT_EQ(edge.line, "GPIO4");
  EXPECT_EQ(edge.offset, 4);
  EXPECT_EQ(edge.value, 1);
  EXPECT_EQ(edge.edge, "rising");
  EXPECT_EQ(edge.board_time_ns, 5'007);
  EXPECT_EQ(edge.seq, 7);
  EXPECT_EQ(all[2].kind, ReadingKind::kWrite);
  EXPECT_EQ(all[2].line, "GPIO17");
  EXPECT_TRUE(All("brd-b").empty()) << "another board's history is its own";
}

TEST_F(GpioStoreTest, LinesAreFoundByNameOffsetOrChip) {
  ASSERT_TRUE(store_->Insert({Read("brd-a", "GPIO4", 4, kT0 + 1, 0), Read("brd-a", "GPIO5", 5, kT0 + 2, 1),
                              Read("brd-a", "GPIO4", 4, kT0 + 3, 1, "sim1")}));
  EXPECT_EQ(All("brd-a", "GPIO4").size(), 2u);
  EXPECT_EQ(All("brd-a", "4").size(), 2u);
  EXPECT_EQ(All("brd-a", "sim1:GPIO4").size(), 1u);
  EXPECT_EQ(All("brd-a", "sim0:4").size(), 1u);
  EXPECT_EQ(All("brd-a", "sim0:5")[0].line, "GPIO5");
  EXPECT_TRUE(All("brd-a", "GPIO6").empty());
  EXPECT_TRUE(All("brd-a", "nosuchchip:GPIO4").empty());
}

TEST_F(GpioStoreTest, RangesIncludeFromAndExcludeTo) {
  std::vector<Reading> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Read("brd-a", "GPIO4", 4, kT0 + i * 100, i % 2));
  ASSERT_TRUE(store_->Insert(batch));
  ReadingQuery q;
  q.board_id = "brd-a";
  q.from_ns = kT0 + 200;
  q.to_ns = kT0 + 500;
  auto page = store_->Query(q);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->readings.size(), 3u);
  EXPECT_EQ(page->readings.front().time_ns, kT0 + 200);
  EXPECT_EQ(page->readings.back().time_ns, kT0 + 400);
  EXPECT_FALSE(page->truncated);
  q.from_ns = q.to_ns = kT0 + 300;
  EXPECT_TRUE(store_->Query(q)->readings.empty());
}

TEST_F(GpioStoreTest, LimitKeepsTheNewestAndSaysSo) {
  std::vector<Reading> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Read("brd-a", "GPIO4", 4, kT0 + i, 0));
  ASSERT_TRUE(store_->Insert(batch));
  ReadingQuery q;
  q.board_id = "brd-a";
  q.limit = 4;
  auto page = store_->Query(q);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->readings.size(), 4u);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->readings.front().time_ns, kT0 + 6);
  EXPECT_EQ(page->readings.back().time_ns, kT0 + 9);
  q.limit = 10;
  EXPECT_FALSE(store_->Query(q)->truncated) << "exactly all of them is not truncated";
  // Equal times keep their insertion order.
  ASSERT_TRUE(store_->Insert({Read("brd-b", "GPIO4", 4, kT0, 0), Read("brd-b", "GPIO4", 4, kT0, 1)}));
  auto same = All("brd-b");
  ASSERT_EQ(same.size(), 2u);
  EXPECT_EQ(same[0].value, 0);
  EXPECT_EQ(same[1].value, 1);
}

TEST_F(GpioStoreTest, CursorsWalkBackThroughTheRange) {
  // Seven readings, two of them at the same instant: the cursor tells them apart.
  std::vector<Reading> readings;
  for (int i = 0; i < 6; ++i) readings.push_back(Read("brd-1", "GPIO17", 17, kT0 + i, i % 2));
  readings.push_back(Read("brd-1", "GPIO17", 17, kT0 + 5, 1));
  readings.push_back(Read("brd-1", "GPIO4", 4, kT0 + 3, 1));
  ASSERT_TRUE(store_->Insert(readings));
  ReadingQuery q;
  q.board_id = "brd-1";
  q.line = "GPIO17";
  q.limit = 3;
  std::vector<int64_t> times;
  int pages = 0;
  for (;;) {
    auto page = store_->Query(q);
    ASSERT_TRUE(page) << page.error().message;
    // Each page is oldest first; pages go back in time.
    for (auto it = page->readings.rbegin(); it != page->readings.rend(); ++it) times.push_back(it->time_ns - kT0);
    ++pages;
    EXPECT_EQ(page->truncated, !page->next_cursor.empty());
    if (page->next_cursor.empty() || pages > 5) break;
    q.cursor = page->next_cursor;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(times, (std::vector<int64_t>{5, 5, 4, 3, 2, 1, 0}));
  q.cursor = "garbage";
  EXPECT_EQ(store_->Query(q).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(GpioStoreTest, BadReadingsStoreNothing) {
  Reading good = Read("brd-a", "GPIO4", 4, kT0, 1);
  auto bad = [&](auto change) {
    Reading r = good;
    change(r);
    return r;
  };
  const std::vector<Reading> broken = {
      bad([](Reading& r) { r.board_id.clear(); }),    bad([](Reading& r) { r.line.clear(); }),
      bad([](Reading& r) { r.chip.clear(); }),        bad([](Reading& r) { r.offset = -1; }),
      bad([](Reading& r) { r.value = 2; }),           bad([](Reading& r) { r.time_ns = 0; }),
      bad([](Reading& r) { r.kind = ReadingKind::kEdge; }),  // no edge, timestamp or seq
      bad([](Reading& r) { r.seq = 3; }),                    // a read with a seq
      bad([](Reading& r) {
        r.kind = ReadingKind::kEdge;
        r.edge = "sideways";
        r.seq = 1;
        r.board_time_ns = 1;
      }),
  };
  for (size_t i = 0; i < broken.size(); ++i) {
    auto inserted = store_->Insert({good, broken[i]});
    ASSERT_FALSE(inserted) << i;
    EXPECT_EQ(inserted.error().code, ErrorCode::kInvalidArgument) << i;
    EXPECT_NE(inserted.error().message.find("reading 1"), std::string::npos) << inserted.error().message;
  }
  EXPECT_TRUE(All("brd-a").empty());
}

TEST_F(GpioStoreTest, BadQueriesAreRefused) {
  ReadingQuery q;
  q.board_id = "";
  EXPECT_EQ(store_->Query(q).error().code, ErrorCode::kInvalidArgument);
  q.board_id = "brd-a";
  q.limit = 0;
  EXPECT_EQ(store_->Query(q).error().code, ErrorCode::kInvalidArgument);
  q.limit = kMaxQueryLimit + 1;
  EXPECT_EQ(store_->Query(q).error().code, ErrorCode::kInvalidArgument);
  q.limit = 1;
  q.from_ns = 10;
  q.to_ns = 9;
  EXPECT_EQ(store_->Query(q).error().code, ErrorCode::kInvalidArgument);
  // SQL in a line name is only a name.
  q.from_ns = 0;
  q.to_ns = INT64_MAX;
  q.line = "x' OR '1'='1";
  ASSERT_TRUE(store_->Insert({Read("brd-a", "GPIO4", 4, kT0, 1)}));
  EXPECT_TRUE(store_->Query(q)->readings.empty());
}

TEST_F(GpioStoreTest, PruneDeletesOnlyOlderReadingsInChunks) {
  std::vector<Reading> batch;
  for (int i = 0; i < 25; ++i) batch.push_back(Read("brd-a", "GPIO4", 4, kT0 + i, 0));
  ASSERT_TRUE(store_->Insert(batch));
  EXPECT_EQ(store_->PruneBefore(kT0 + 20, 8), 8);
  EXPECT_EQ(store_->PruneBefore(kT0 + 20, 8), 8);
  EXPECT_EQ(store_->PruneBefore(kT0 + 20, 8), 4);
  EXPECT_EQ(store_->PruneBefore(kT0 + 20, 8), 0);
  auto left = All("brd-a");
  ASSERT_EQ(left.size(), 5u);
  EXPECT_EQ(left.front().time_ns, kT0 + 20);
  EXPECT_FALSE(store_->PruneBefore(kT0, 0));
}

TEST(GpioStoreFileTest, ADeletedBoardTakesItsHistoryAlong) {
  const auto path = std::filesystem::temp_directory_path() / ("ew-gpio-store-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  {
    auto registry = registry::OpenSqliteStore(path.string());
    ASSERT_TRUE(registry) << registry.error().message;
    edgewire::v1::Project project;
    project.set_id("prj-1");
    project.set_name("lab");
    ASSERT_TRUE((*registry)->CreateProject(project));
    for (const char* id : {"brd-a", "brd-b"}) {
      edgewire::v1::Board board;
      board.set_id(id);
      board.set_name(id);
      board.set_project_id("prj-1");
      ASSERT_TRUE((*registry)->CreateBoard(board, std::string("code-") + id, 0));
    }
    auto store = GpioStore::Open(path.string());
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE((*store)->Insert({Read("brd-a", "GPIO4", 4, kT0, 1), Read("brd-b", "GPIO4", 4, kT0, 1)}));
    ASSERT_TRUE((*registry)->DeleteBoard("brd-a"));
    ReadingQuery q;
    q.board_id = "brd-a";
    EXPECT_TRUE((*store)->Query(q)->readings.empty());
    q.board_id = "brd-b";
    EXPECT_EQ((*store)->Query(q)->readings.size(), 1u);
  }
  // A file that was never migrated to v3 is not taken.
  const auto old = path.string() + ".old";
  {
    SQLite::Database db(old, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA user_version = 2");
  }
  auto refused = GpioStore::Open(old);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInternal);
  for (const auto& p : {path.string(), path.string() + "-wal", path.string() + "-shm", old})
    std::filesystem::remove(p);
}

}  // namespace
}  // namespace ew::conductor::gpio
