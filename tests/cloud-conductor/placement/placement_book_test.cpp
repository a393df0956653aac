// PlacementBook: rankings over the runtimes offered (only those: an offline runtime is never
// offered, so never explored), deadlines, the anchor that ends a fallback, and snapshots.
#include "cloud-conductor/placement/placement_book.hpp"

#include <gtest/gtest.h>

namespace ew::placement {
namespace {

class PlacementBookTest : public ::testing::Test {
 protected:
  void Feed(const std::string& runtime, double ms, int times) {
    for (int i = 0; i < times; ++i) book_.Record("fn-1", runtime, true, Millis(ms));
  }
  ManualClock clock_;
  PlacementBook book_{clock_, [] { return 0.99; }};
};

TEST_F(PlacementBookTest, UntriedRuntimesComeFirstThenTheLowestWeight) {
  Feed("cloud", 100, 5);
  auto ranking = book_.Rank("fn-1", {"cloud", "board:b1"}, "ucb1");
  ASSERT_TRUE(ranking);
  EXPECT_EQ(ranking->strategy, "ucb1");
  EXPECT_EQ(ranking->order, (std::vector<std::string>{"board:b1", "cloud"}));
  EXPECT_FALSE(ranking->weights["board:b1"].has_value());
  Feed("board:b1", 300, 5);
  ranking = book_.Rank("fn-1", {"board:b1", "cloud"}, "greedy");
  EXPECT_EQ(ranking->order, (std::vector<std::string>{"cloud", "board:b1"}));
  EXPECT_DOUBLE_EQ(*ranking->weights["cloud"], 100.0);
}

TEST_F(PlacementBookTest, OnlyTheRuntimesOfferedAreRanked) {
  Feed("board:b1", 10, 5);  // fastest, but offline now: the caller does not offer it
  auto ranking = book_.Rank("fn-1", {"cloud"}, "sliding-ucb");
  ASSERT_TRUE(ranking);
  EXPECT_EQ(ranking->order, (std::vector<std::string>{"cloud"}));
  EXPECT_FALSE(book_.Rank("fn-1", {}, "ucb1"));
}

TEST_F(PlacementBookTest, ADeadlinePushesBackRuntimesThatMissIt) {
  Feed("cloud", 100, 5);
  Feed("board:b1", 300, 5);
  auto ranking = book_.Rank("fn-1", {"cloud", "board:b1"}, "greedy", Millis(50));
  EXPECT_EQ(ranking->order, (std::vector<std::string>{"cloud", "board:b1"}));  // none meets it: as ranked
  Feed("board:b2", 40, 5);
  ranking = book_.Rank("fn-1", {"cloud", "board:b1", "board:b2"}, "greedy", Millis(120));
  EXPECT_EQ(ranking->order, (std::vector<std::string>{"board:b2", "cloud", "board:b1"}));
  ranking = book_.Rank("fn-1", {"cloud", "board:b1", "board:b2"}, "greedy", Millis(50));
  EXPECT_EQ(ranking->order.front(), "board:b2");
}

TEST_F(PlacementBookTest, TheAnchorEndsTheOrderUnlessItIsThePick) {
  Feed("cloud", 200, 5);
  Feed("board:b1", 100, 5);
  Feed("board:b2", 150, 5);
  auto ranking = book_.Rank("fn-1", {"cloud", "board:b1", "board:b2"}, "greedy", std::nullopt, "cloud");
  EXPECT_EQ(ranking->order, (std::vector<std::string>{"board:b1", "board:b2", "cloud"}));
  ranking = book_.Rank("fn-1", {"cloud", "board:b1", "board:b2"}, "greedy", std::nullopt, "board:b1");
  EXPECT_EQ(ranking->order.front(), "board:b1");
}

TEST_F(PlacementBookTest, SnapshotsShowEveryRuntimeWithItsWeightAndLastCall) {
  clock_.Advance(std::chrono::seconds(1000));
  Feed("cloud", 100, 2);
  book_.Record("fn-1", "cloud", false, Millis(0));
  auto views = book_.Snapshot("fn-1", {"cloud", "board:b1"}, "greedy");
  ASSERT_TRUE(views);
  ASSERT_EQ(views->size(), 2u);
  const auto& board = (*views)[0];
  const auto& cloud = (*views)[1];
  EXPECT_EQ(board.runtime, "board:b1");
  EXPECT_EQ(board.stats.count(), 0u);
  EXPECT_FALSE(board.weight);
  EXPECT_EQ(cloud.stats.count(), 3u);
  EXPECT_EQ(cloud.stats.failures(), 1u);
  EXPECT_DOUBLE_EQ(*cloud.weight, 200.0);  // 100 ms + one failure in a row × the largest mean
  EXPECT_EQ(cloud.last_at, clock_.Now());
  EXPECT_EQ(book_.MeanDuration("fn-1")->count(), 100.0);
  book_.Forget("fn-1");
  EXPECT_FALSE(book_.MeanDuration("fn-1"));
  EXPECT_FALSE(book_.Snapshot("fn-1", {}, "nope"));
}

}  // namespace
}  // namespace ew::placement
