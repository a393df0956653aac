// How a function's runtime is chosen from what was measured (after "Dynamic Allocation of
// Serverless Functions in IoT Environments", Pinto, Dias, Ferreira). Every strategy scores each
// runtime with a weight, an estimated cost in milliseconds where lower is better (the paper's
// weight_scale): the mean duration less an exploration bonus. A runtime never tried has no
// weight (it is tried first). Strategies are stateless and thread-safe: what they learn from is
// RuntimeStats, kept by PlacementBook.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cloud-conductor/placement/runtime_stats.hpp"
#include "common/error/error.hpp"

namespace ew::placement {

// A runtime as a strategy sees it. Only online runtimes are ever passed in: exploration can
// therefore never pick one that is offline.
struct Arm {
  const RuntimeStats* stats = nullptr;
};

// Uniform in [0, 1): injected so that tests and the bench are reproducible.
using Random = std::function<double()>;

class PlacementStrategy {
 public:
  virtual ~PlacementStrategy() = default;
  virtual std::string_view name() const = 0;
  // One weight per arm (same order); nullopt = never measured. `plays` = the function's calls
  // so far (all runtimes).
  virtual std::vector<std::optional<double>> Weights(const std::vector<Arm>& arms, uint64_t plays) const = 0;
  // The arm to run first. Default: an unmeasured arm (the first), else the lowest weight.
  // Greedy overrides it to explore at random.
  virtual size_t Pick(const std::vector<Arm>& arms, const std::vector<std::optional<double>>& weights,
                      Random& random) const;
};

struct StrategyOptions {
  double epsilon = 0.1;          // greedy: share of calls sent to a random runtime
  double ucb_c = 0.5;            // ucb1, sliding-ucb: exploration factor (bonus scale: the largest mean)
  size_t window = 20;            // sliding-ucb: the last N calls of the function count
  // sliding-ucb's own exploration factor: it explores anyway whenever a runtime's samples age out
  // of the window, so a small bonus suffices (with 0.5 it kept trying a slowed runtime twice
  // per window: 29% of calls off the best runtime in the bench, 10% with 0.15).
  double sliding_ucb_c = 0.15;
  // A runtime that failed its last k calls weighs as much more as k times the largest mean: it
  // drops behind the others, and is tried again when the others are worse.
  double failure_penalty = 1.0;
};

// "greedy", "ucb1", "bayes-ucb", "sliding-ucb"; InvalidArgument naming them for anything else.
Result<std::unique_ptr<PlacementStrategy>> MakeStrategy(std::string_view name, const StrategyOptions& options = {});
// The names MakeStrategy knows, for error messages and docs.
const std::vector<std::string>& StrategyNames();
inline constexpr const char* kDefaultStrategy = "ucb1";

}  // namespace ew::placement
