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

// Issue 18: the book hands out what changed (once), takes it back after a failed write, and a
// new book restored from it ranks as the old one did.
TEST_F(PlacementBookTest, ChangedFunctionsAreHandedOutOnceAndRestoreRanksTheSame) {
  EXPECT_FALSE(book_.HasChanges());
  Feed("cloud", 100, 5);
  Feed("board:b1", 300, 5);
  book_.Record("fn-2", "cloud", false, Millis(0));
  EXPECT_TRUE(book_.HasChanges());
  auto changed = book_.TakeChanged();
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_EQ(changed[0].function_id, "fn-1");
  EXPECT_EQ(changed[0].plays, 10u);
  ASSERT_EQ(changed[0].runtimes.size(), 2u);
  EXPECT_EQ(changed[0].runtimes[1].runtime, "cloud");
  EXPECT_EQ(changed[0].runtimes[1].last_at, clock_.Now());
  EXPECT_TRUE(book_.TakeChanged().empty());  // nothing new since
  book_.MarkChanged({"fn-2", "fn-unknown"});  // a failed write gives its functions back
  auto again = book_.TakeChanged();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].function_id, "fn-2");
  book_.Forget("fn-2");
  book_.Record("fn-2", "cloud", true, Millis(1));
  book_.Forget("fn-2");
  EXPECT_TRUE(book_.TakeChanged().empty());  // a deleted function is not written back

  PlacementBook restored(clock_, [] { return 0.99; });
  restored.Restore(changed);
  EXPECT_FALSE(restored.HasChanges());
  for (const char* strategy : {"greedy", "ucb1", "bayes-ucb", "sliding-ucb"}) {
    auto before = book_.Rank("fn-1", {"board:b1", "cloud"}, strategy);
    auto after = restored.Rank("fn-1", {"board:b1", "cloud"}, strategy);
    ASSERT_TRUE(before && after);
    EXPECT_EQ(after->order, before->order) << strategy;
    EXPECT_EQ(after->weights, before->weights) << strategy;
  }
}

// Issue 18: a function's own knobs (function.json "placement") replace the book's for its calls.
TEST_F(PlacementBookTest, TuningReplacesTheOptionsForOneCall) {
  Feed("cloud", 100, 30);
  Feed("board:b1", 50, 2);  // plays 31, 32: in a window of 20, out of a window of 1
  StrategyOptions narrow;
  narrow.window = 1;
  auto ranking = book_.Rank("fn-1", {"cloud", "board:b1"}, "sliding-ucb", std::nullopt, "", narrow);
  ASSERT_TRUE(ranking);
  EXPECT_FALSE(ranking->weights["cloud"].has_value());  // aged out of a 1-call window: tried again
  ranking = book_.Rank("fn-1", {"cloud", "board:b1"}, "sliding-ucb");
  EXPECT_TRUE(ranking->weights["cloud"].has_value());   // the default window of 20 still holds it
  StrategyOptions explore;
  explore.epsilon = 1.0;  // with random() = 0.99: the last runtime, whatever the means say
  ranking = book_.Rank("fn-1", {"board:b1", "cloud"}, "greedy", std::nullopt, "", explore);
  EXPECT_EQ(ranking->order.front(), "cloud");
  ranking = book_.Rank("fn-1", {"board:b1", "cloud"}, "greedy");
  EXPECT_EQ(ranking->order.front(), "board:b1");
  auto views = book_.Snapshot("fn-1", {}, "sliding-ucb", narrow);
  ASSERT_TRUE(views);
  EXPECT_FALSE(views->at(1).weight.has_value());
}

}  // namespace
}  // namespace ew::placement
