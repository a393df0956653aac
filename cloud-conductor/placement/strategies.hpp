// The four placement strategies (placement_strategy.hpp says what a weight is). Costs are
// durations, so each "upper confidence bound" of the bandit literature is a lower bound here.
#pragma once

#include "cloud-conductor/placement/placement_strategy.hpp"

namespace ew::placement {

// The mean; with probability epsilon a uniformly random arm instead.
class GreedyStrategy final : public PlacementStrategy {
 public:
  explicit GreedyStrategy(StrategyOptions options) : options_(options) {}
  std::string_view name() const override { return "greedy"; }
  std::vector<std::optional<double>> Weights(const std::vector<Arm>& arms, uint64_t plays) const override;
  size_t Pick(const std::vector<Arm>& arms, const std::vector<std::optional<double>>& weights,
              Random& random) const override;

 private:
  StrategyOptions options_;
};

// UCB1 (Auer et al.): mean - c * scale * sqrt(2 ln N / n), scale = the largest mean, so the bonus
// is in milliseconds and durations need no bound.
class Ucb1Strategy final : public PlacementStrategy {
 public:
  explicit Ucb1Strategy(StrategyOptions options) : options_(options) {}
  std::string_view name() const override { return "ucb1"; }
  std::vector<std::optional<double>> Weights(const std::vector<Arm>& arms, uint64_t plays) const override;

 private:
  StrategyOptions options_;
};

// Bayes-UCB (Kaufmann et al.) with a Gaussian posterior of the mean duration: its 1/N quantile,
// mean - z(1 - 1/N) * sd / sqrt(n); a single sample's sd is taken as its mean.
class BayesUcbStrategy final : public PlacementStrategy {
 public:
  explicit BayesUcbStrategy(StrategyOptions options) : options_(options) {}
  std::string_view name() const override { return "bayes-ucb"; }
  std::vector<std::optional<double>> Weights(const std::vector<Arm>& arms, uint64_t plays) const override;

 private:
  StrategyOptions options_;
};

// Sliding-window UCB (Garivier & Moulines): UCB1 over the last `window` calls of the function
// only, so a runtime whose samples have all aged out of the window is tried again, and a change
// of the network shows within `window` calls instead of being averaged away.
class SlidingUcbStrategy final : public PlacementStrategy {
 public:
  explicit SlidingUcbStrategy(StrategyOptions options) : options_(options) {}
  std::string_view name() const override { return "sliding-ucb"; }
  std::vector<std::optional<double>> Weights(const std::vector<Arm>& arms, uint64_t plays) const override;

 private:
  StrategyOptions options_;
};

}  // namespace ew::placement
