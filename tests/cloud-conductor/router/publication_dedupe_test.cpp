// PublicationDedupe: the highest seq taken per (board, stream), a new spool numbering afresh, and
// the bounds that keep what boards name from growing the conductor's memory (docs/SECURITY.md).
#include "cloud-conductor/router/publication_dedupe.hpp"

#include <gtest/gtest.h>

namespace ew::router {
namespace {

TEST(PublicationDedupeTest, ASeqIsNewOncePerStreamAndSpool) {
  PublicationDedupe dedupe;
  EXPECT_TRUE(dedupe.IsNew("b1", "s1", "gpio.event", 1));
  dedupe.Mark("b1", "s1", "gpio.event", 1);
  dedupe.Mark("b1", "s1", "gpio.event", 2);
  EXPECT_FALSE(dedupe.IsNew("b1", "s1", "gpio.event", 1));
  EXPECT_FALSE(dedupe.IsNew("b1", "s1", "gpio.event", 2));
  EXPECT_TRUE(dedupe.IsNew("b1", "s1", "gpio.event", 5));   // a gap is fine
  EXPECT_TRUE(dedupe.IsNew("b1", "s1", "fn.report", 1));    // streams apart
  EXPECT_TRUE(dedupe.IsNew("b2", "s1", "gpio.event", 1));   // boards apart
  EXPECT_TRUE(dedupe.IsNew("b1", "s2", "gpio.event", 1));   // a new spool starts again
  dedupe.Mark("b1", "s2", "gpio.event", 1);
  EXPECT_EQ(dedupe.Last("b1", "s2", "gpio.event"), 1u);
  EXPECT_EQ(dedupe.Last("b1", "s1", "gpio.event"), 0u);     // replaced by the new spool
  dedupe.Mark("b1", "s2", "gpio.event", 1);                 // never goes back
  dedupe.Mark("b1", "s2", "gpio.event", 7);
  dedupe.Mark("b1", "s2", "gpio.event", 3);
  EXPECT_EQ(dedupe.Last("b1", "s2", "gpio.event"), 7u);
  dedupe.ForgetBoard("b1");
  EXPECT_EQ(dedupe.entries(), 0u);
}

TEST(PublicationDedupeTest, ABoardNamingManyStreamsEvictsOnlyItsOwn) {
  PublicationDedupe dedupe({/*max_streams_per_board=*/4, /*max_entries=*/100});
  dedupe.Mark("quiet", "s", "gpio.event", 10);
  for (int i = 0; i < 1000; ++i) dedupe.Mark("noisy", "s", "stream" + std::to_string(i), 1);
  EXPECT_EQ(dedupe.entries(), 5u);
  EXPECT_EQ(dedupe.Last("quiet", "s", "gpio.event"), 10u);
  EXPECT_EQ(dedupe.Last("noisy", "s", "stream999"), 1u);
  EXPECT_EQ(dedupe.Last("noisy", "s", "stream0"), 0u);  // forgotten: at worst delivered twice
  EXPECT_EQ(dedupe.evicted(), 996u);
}

TEST(PublicationDedupeTest, TheTableIsBoundedAndForgetsTheLeastRecentlyUsedBoard) {
  PublicationDedupe dedupe({/*max_streams_per_board=*/2, /*max_entries=*/6});
  for (int b = 0; b < 3; ++b) {
    dedupe.Mark("b" + std::to_string(b), "s", "x", 1);
    dedupe.Mark("b" + std::to_string(b), "s", "y", 1);
  }
  EXPECT_EQ(dedupe.entries(), 6u);
  dedupe.Mark("b0", "s", "x", 2);  // b0 used again: b1 is now the oldest
  dedupe.Mark("b3", "s", "x", 1);
  EXPECT_LE(dedupe.entries(), 6u);
  EXPECT_EQ(dedupe.Last("b1", "s", "x"), 0u);
  EXPECT_EQ(dedupe.Last("b0", "s", "x"), 2u);
  EXPECT_EQ(dedupe.Last("b3", "s", "x"), 1u);
  EXPECT_EQ(dedupe.boards(), 3u);
}

}  // namespace
}  // namespace ew::router
