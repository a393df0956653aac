// The strategies on synthetic runtimes (durations drawn from a seeded RNG, no clock involved):
// UCB1, Bayes-UCB and greedy settle on the fastest runtime; sliding-window UCB follows a
// runtime that turns slow within its window, where UCB1 takes much longer.
#include "cloud-conductor/placement/strategies.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <vector>

namespace ew::placement {
namespace {

// Runs `calls` calls of one function over arms whose duration at call t (0-based) is
// `mean(arm, t)` with 5% Gaussian noise; returns the arm picked at each call.
std::vector<size_t> Simulate(const PlacementStrategy& strategy, size_t arms_count, size_t calls,
                             const std::function<double(size_t arm, size_t call)>& mean, uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  Random random = [&] { return uniform(rng); };
  std::vector<RuntimeStats> stats(arms_count);
  std::vector<size_t> picks;
  for (size_t t = 0; t < calls; ++t) {
    std::vector<Arm> arms;
    for (auto& s : stats) arms.push_back(Arm{&s});
    const auto weights = strategy.Weights(arms, t);
    const size_t pick = strategy.Pick(arms, weights, random);
    const double m = mean(pick, t);
    std::normal_distribution<double> noise(m, m * 0.05);
    stats[pick].RecordSuccess(Millis(std::max(1.0, noise(rng))), t + 1);
    picks.push_back(pick);
  }
  return picks;
}

double ShareOf(const std::vector<size_t>& picks, size_t arm, size_t from, size_t to) {
  size_t n = 0;
  for (size_t t = from; t < to; ++t) n += picks[t] == arm;
  return static_cast<double>(n) / static_cast<double>(to - from);
}

// The paper's three runtimes for a heavy function, scaled 10x down: local 200 ms, clouds
// 100 ms + 5.2 ms and 100 ms + 7.1 ms of network.
double Paper(size_t arm, size_t) { return arm == 0 ? 200.0 : arm == 1 ? 105.2 : 107.1; }

// Calls after `change` until `arm` holds 8 of 10 consecutive picks.
size_t CallsToMoveTo(const std::vector<size_t>& picks, size_t arm, size_t change) {
  for (size_t t = change; t + 10 <= picks.size(); ++t) {
    if (ShareOf(picks, arm, t, t + 10) >= 0.8) return t - change;
  }
  return picks.size();
}

TEST(StrategiesTest, Ucb1SettlesOnTheFastestRuntime) {
  Ucb1Strategy ucb1({});
  auto picks = Simulate(ucb1, 3, 300, [](size_t arm, size_t) { return arm == 0 ? 200.0 : arm == 1 ? 100.0 : 150.0; });
  EXPECT_EQ(picks[0], 0u);  // each runtime is tried once first
  EXPECT_EQ(picks[1], 1u);
  EXPECT_EQ(picks[2], 2u);
  EXPECT_GE(ShareOf(picks, 1, 200, 300), 0.8);
}

TEST(StrategiesTest, BayesUcbSettlesOnTheFastestRuntime) {
  BayesUcbStrategy bayes({});
  auto picks = Simulate(bayes, 3, 300, [](size_t arm, size_t) { return arm == 0 ? 200.0 : arm == 1 ? 100.0 : 150.0; });
  EXPECT_GE(ShareOf(picks, 1, 200, 300), 0.9);
}

TEST(StrategiesTest, GreedyExploresItsEpsilonShareAndOtherwiseTakesTheBest) {
  StrategyOptions never;
  never.epsilon = 0.0;
  auto exploit = Simulate(GreedyStrategy(never), 3, 200, Paper);
  EXPECT_EQ(ShareOf(exploit, 0, 3, 200), 0.0);  // tried once, never again
  StrategyOptions often;
  often.epsilon = 0.3;
  auto explore = Simulate(GreedyStrategy(often), 3, 2000, Paper);
  // A random arm 30% of the time: the slow one gets about a third of those.
  EXPECT_NEAR(ShareOf(explore, 0, 3, 2000), 0.1, 0.03);
}

TEST(StrategiesTest, SlidingUcbMovesBackWithinTwentyCallsAfterTheCloudSlowsDown) {
  // The paper's third experiment: the network to the clouds slows at call 50; local is best then.
  auto slowed = [](size_t arm, size_t t) { return t < 50 || arm == 0 ? Paper(arm, t) : Paper(arm, t) + 400.0; };
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    auto sliding = Simulate(SlidingUcbStrategy({}), 3, 250, slowed, seed);
    EXPECT_LE(CallsToMoveTo(sliding, 0, 50), 20u) << "seed " << seed;
    EXPECT_GE(ShareOf(sliding, 0, 100, 250), 0.75) << "seed " << seed;
    auto ucb1 = Simulate(Ucb1Strategy({}), 3, 250, slowed, seed);
    EXPECT_GT(CallsToMoveTo(ucb1, 0, 50), CallsToMoveTo(sliding, 0, 50)) << "seed " << seed;
  }
}

TEST(StrategiesTest, AFailingRuntimeDropsBehindTheOthers) {
  RuntimeStats fast, slow;
  for (uint64_t i = 1; i <= 10; ++i) {
    fast.RecordSuccess(Millis(100), i);
    slow.RecordSuccess(Millis(200), i);
  }
  fast.RecordFailure(11);
  Random random = [] { return 0.5; };
  for (const auto& name : StrategyNames()) {
    auto strategy = MakeStrategy(name);
    ASSERT_TRUE(strategy);
    std::vector<Arm> arms{{&fast}, {&slow}};
    auto weights = (*strategy)->Weights(arms, 21);
    EXPECT_EQ((*strategy)->Pick(arms, weights, random), 1u) << name;
  }
}

TEST(StrategiesTest, UnknownStrategyNamesAreRefusedWithTheKnownOnes) {
  auto made = MakeStrategy("thompson");
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(made.error().message.find("sliding-ucb"), std::string::npos);
}

}  // namespace
}  // namespace ew::placement
