// Cross-wire delivery per the flows contract: per (topic, from) in seq order, duplicates dropped,
// a newer publisher version restarts the sequence, an older one is stale.
#include "flows/runtime/wire_order.hpp"

#include <gtest/gtest.h>

namespace ew::flows::runtime {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::vector<int> Values(const std::vector<Msg>& msgs) {
  std::vector<int> out;
  for (const auto& m : msgs) out.push_back(m["payload"]);
  return out;
}

TEST(WireOrder, InOrderOutOfOrderAndDuplicates) {
  WireOrder order;
  auto t = Clock::time_point{};
  EXPECT_EQ(Values(order.Accept("w", "A", 1, 1, {{"payload", 1}}, t)), std::vector<int>{1});
  EXPECT_TRUE(order.Accept("w", "A", 1, 3, {{"payload", 3}}, t).empty());  // held: 2 is missing
  EXPECT_EQ(Values(order.Accept("w", "A", 1, 2, {{"payload", 2}}, t)), (std::vector<int>{2, 3}));
  EXPECT_TRUE(order.Accept("w", "A", 1, 2, {{"payload", 2}}, t).empty());  // a replayed duplicate
  EXPECT_EQ(order.duplicates(), 1u);
  // Another publisher on the same topic has its own sequence.
  EXPECT_EQ(Values(order.Accept("w", "B", 1, 1, {{"payload", 10}}, t)), std::vector<int>{10});
}

TEST(WireOrder, VersionsRestartAndStaleIsDropped) {
  WireOrder order;
  auto t = Clock::time_point{};
  order.Accept("w", "A", 2, 5, {{"payload", 5}}, t);
  EXPECT_EQ(Values(order.Accept("w", "A", 3, 1, {{"payload", 1}}, t)), std::vector<int>{1});
  EXPECT_TRUE(order.Accept("w", "A", 2, 6, {{"payload", 6}}, t).empty());
  EXPECT_EQ(order.stale(), 1u);
}

TEST(WireOrder, GapIsSkippedAfterTimeout) {
  WireOrderOptions options;
  options.gap_timeout = std::chrono::milliseconds(100);
  WireOrder order(options);
  auto t = Clock::time_point{};
  order.Accept("w", "A", 1, 1, {{"payload", 1}}, t);
  EXPECT_TRUE(order.Accept("w", "A", 1, 3, {{"payload", 3}}, t).empty());
  EXPECT_TRUE(order.Expire(t + std::chrono::milliseconds(50)).empty());
  auto released = order.Expire(t + std::chrono::milliseconds(200));
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0].second["payload"], 3);
  EXPECT_EQ(order.skipped(), 1u);
}

}  // namespace
}  // namespace ew::flows::runtime
