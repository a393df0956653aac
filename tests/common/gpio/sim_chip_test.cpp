// SimChip: naming, ownership (busy lines name their holder), bias, edges with sequence numbers
// and debounce, and the signal sources tests and the demo drive.
#include "common/gpio/sim_chip.hpp"

#include <gtest/gtest.h>

namespace ew::gpio {
namespace {

using namespace std::chrono_literals;

TEST(SimChipTest, LinesResolveByNameNumberAndLabel) {
  SimChip chip("sim0", {"GPIO0", "GPIO1", "LED"});
  EXPECT_EQ(*chip.Resolve("GPIO1"), 1u);
  EXPECT_EQ(*chip.Resolve("1"), 1u);
  EXPECT_EQ(*chip.Resolve("LED"), 2u);
  EXPECT_EQ(chip.Resolve("GPIO9").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(chip.Resolve("1x").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(chip.Resolve("").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(SimChip("pi", SimChip::RaspberryPiLines()).Lines().size(), 28u);
}

TEST(SimChipTest, ABusyLineNamesItsHolderAndOnlyTheHolderWritesOrReleases) {
  SimChip chip("sim0", SimChip::RaspberryPiLines());
  LineRequest out;
  out.direction = Direction::kOutput;
  ASSERT_TRUE(chip.Request(17, out, "fn-blink"));
  auto busy = chip.Request(17, LineRequest{}, "session-9");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, ErrorCode::kConflict);
  EXPECT_NE(busy.error().message.find("held by fn-blink"), std::string::npos) << busy.error().message;
  EXPECT_EQ(chip.Write(17, 1, "session-9").error().code, ErrorCode::kPermissionDenied);
  ASSERT_TRUE(chip.Write(17, 1, "fn-blink"));
  EXPECT_EQ(*chip.Read(17), 1);
  EXPECT_EQ(chip.Release(17, "session-9").error().code, ErrorCode::kNotFound);
  auto lines = chip.Lines();
  EXPECT_TRUE(lines[17].used);
  EXPECT_EQ(lines[17].consumer, "fn-blink");
  EXPECT_EQ(lines[17].direction, Direction::kOutput);
  EXPECT_EQ(chip.ReleaseAll("fn-blink"), 1u);
  EXPECT_TRUE(chip.Request(17, LineRequest{}, "session-9"));
}

TEST(SimChipTest, BadRequestsChangeNothing) {
  SimChip chip("sim0", {"GPIO0"});
  LineRequest out;
  out.direction = Direction::kOutput;
  out.edges = Edges::kBoth;
  EXPECT_EQ(chip.Request(0, out, "x").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(chip.Request(0, LineRequest{}, "").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(chip.Request(5, LineRequest{}, "x").error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(chip.Lines()[0].used);
}

TEST(SimChipTest, AnUnconnectedInputReadsAsItsBias) {
  SimChip chip("sim0", {"GPIO0"});
  LineRequest up;
  up.bias = Bias::kPullUp;
  ASSERT_TRUE(chip.Request(0, up, "reader"));
  EXPECT_EQ(*chip.Read(0), 1);
  ASSERT_TRUE(chip.Drive(0, 0, 10ns));
  EXPECT_EQ(*chip.Read(0), 0);
  ASSERT_TRUE(chip.Disconnect(0, 20ns));
  EXPECT_EQ(*chip.Read(0), 1);
}

TEST(SimChipTest, EdgesAreReportedInOrderWithoutGapsAndFilteredByKind) {
  SimChip chip("sim0", {"GPIO0"});
  std::vector<EdgeEvent> seen;
  LineRequest watch;
  watch.edges = Edges::kBoth;
  ASSERT_TRUE(chip.Request(0, watch, "watcher", [&](const EdgeEvent& e) { seen.push_back(e); }));
  // 1 kHz for 10 s of simulated time: 20,000 edges.
  ASSERT_TRUE(chip.Play(0, SimChip::SquareWave(1ms, 1ms, 10'000)));
  ASSERT_EQ(seen.size(), 20'000u);
  for (size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i].sequence, i + 1);
    ASSERT_EQ(seen[i].kind, i % 2 == 0 ? EdgeKind::kRising : EdgeKind::kFalling);
  }
  EXPECT_EQ(seen.back().timestamp, 1ms + 9'999 * 1ms + 500us);

  SimChip rising_only("sim1", {"GPIO0"});
  int rising = 0;
  watch.edges = Edges::kRising;
  ASSERT_TRUE(rising_only.Request(0, watch, "w", [&](const EdgeEvent& e) { rising += e.kind == EdgeKind::kRising; }));
  ASSERT_TRUE(rising_only.Play(0, SimChip::SquareWave(0ns, 1ms, 5)));
  EXPECT_EQ(rising, 5);
}

TEST(SimChipTest, DebounceDropsBouncesCloseToTheLastEdge) {
  SimChip chip("sim0", {"BUTTON"});
  std::vector<EdgeEvent> seen;
  LineRequest watch;
  watch.edges = Edges::kBoth;
  watch.debounce = 5ms;
  ASSERT_TRUE(chip.Request(0, watch, "watcher", [&](const EdgeEvent& e) { seen.push_back(e); }));
  // A press that bounces three times within 2 ms, held, then a clean release 50 ms later.
  ASSERT_TRUE(chip.Play(0, {{10ms, 1}, {10ms + 300us, 0}, {10ms + 900us, 1}, {11ms + 500us, 0}, {12ms, 1},
                            {62ms, 0}}));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].kind, EdgeKind::kRising);
  EXPECT_EQ(seen[0].timestamp, 10ms);
  EXPECT_EQ(seen[1].kind, EdgeKind::kFalling);
  EXPECT_EQ(seen[1].timestamp, 62ms);
  EXPECT_EQ(seen[1].sequence, 2u);
}

TEST(SimChipTest, ReleasedLinesReportNoMoreEdges) {
  SimChip chip("sim0", {"GPIO0"});
  int edges = 0;
  LineRequest watch;
  watch.edges = Edges::kBoth;
  ASSERT_TRUE(chip.Request(0, watch, "watcher", [&](const EdgeEvent&) { ++edges; }));
  ASSERT_TRUE(chip.Drive(0, 1, 1ms));
  ASSERT_TRUE(chip.Release(0, "watcher"));
  ASSERT_TRUE(chip.Drive(0, 0, 2ms));
  EXPECT_EQ(edges, 1);
}

TEST(SimChipTest, AReleasedOutputKeepsItsLevelUntilRequestedAsAnInput) {
  SimChip chip("sim0", {"GPIO0"});
  LineRequest out;
  out.direction = Direction::kOutput;
  out.initial_value = 1;
  ASSERT_TRUE(chip.Request(0, out, "fn"));
  ASSERT_TRUE(chip.Release(0, "fn"));
  EXPECT_EQ(chip.Read(0).value(), 1);
  EXPECT_EQ(chip.Lines()[0].direction, Direction::kOutput);
  EXPECT_FALSE(chip.Lines()[0].used);
  ASSERT_TRUE(chip.Request(0, LineRequest{}, "reader"));
  EXPECT_EQ(chip.Read(0).value(), 0);  // an input now: unconnected, no pull
  EXPECT_EQ(chip.Lines()[0].direction, Direction::kInput);
}

}  // namespace
}  // namespace ew::gpio
