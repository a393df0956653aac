#include "cloud-conductor/placement/strategies.hpp"

#include <algorithm>
#include <cmath>

#include <boost/math/distributions/normal.hpp>

namespace ew::placement {

namespace {

// When nothing was measured yet, a failure still needs a size.
constexpr double kDefaultScaleMs = 1000.0;

// The largest mean of the arms measured: the unit of exploration bonuses and failure penalties.
double Scale(const std::vector<Arm>& arms) {
  double scale = 0;
  for (const Arm& arm : arms) {
    if (arm.stats->successes() > 0) scale = std::max(scale, arm.stats->mean().count());
  }
  return scale > 0 ? scale : kDefaultScaleMs;
}

// The weight of an arm that never succeeded but failed, or of a measured arm that failed lately.
double Penalty(const RuntimeStats& stats, double scale, const StrategyOptions& options) {
  return static_cast<double>(stats.failures_in_a_row()) * options.failure_penalty * scale;
}

// Applies the common rules around a strategy's own weight: a never-played arm has none, an arm
// that only failed weighs the scale plus its penalty, a failing arm carries its penalty.
template <typename Own>
std::vector<std::optional<double>> WeighEach(const std::vector<Arm>& arms, const StrategyOptions& options, Own own) {
  const double scale = Scale(arms);
  std::vector<std::optional<double>> out;
  out.reserve(arms.size());
  for (const Arm& arm : arms) {
    const RuntimeStats& s = *arm.stats;
    if (s.successes() == 0) {
      out.push_back(s.failures() == 0 ? std::nullopt
                                      : std::optional<double>(scale + Penalty(s, scale, options)));
      continue;
    }
    std::optional<double> weight = own(s, scale);
    if (weight) *weight += Penalty(s, scale, options);
    out.push_back(weight);
  }
  return out;
}

size_t LowestOrUntried(const std::vector<std::optional<double>>& weights) {
  size_t best = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!weights[i]) return i;
    if (*weights[i] < *weights[best]) best = i;
  }
  return best;
}

}  // namespace

size_t PlacementStrategy::Pick(const std::vector<Arm>& /*arms*/, const std::vector<std::optional<double>>& weights,
                               Random& /*random*/) const {
  return LowestOrUntried(weights);
}

std::vector<std::optional<double>> GreedyStrategy::Weights(const std::vector<Arm>& arms, uint64_t /*plays*/) const {
  return WeighEach(arms, options_, [](const RuntimeStats& s, double) { return s.mean().count(); });
}

size_t GreedyStrategy::Pick(const std::vector<Arm>& arms, const std::vector<std::optional<double>>& weights,
                            Random& random) const {
  const bool all_tried = std::all_of(weights.begin(), weights.end(), [](const auto& w) { return w.has_value(); });
  if (all_tried && !arms.empty() && random() < options_.epsilon) {
    const auto i = static_cast<size_t>(random() * static_cast<double>(arms.size()));
    return std::min(i, arms.size() - 1);
  }
  return LowestOrUntried(weights);
}

std::vector<std::optional<double>> Ucb1Strategy::Weights(const std::vector<Arm>& arms, uint64_t plays) const {
  const double log_plays = std::log(static_cast<double>(std::max<uint64_t>(plays, 1)));
  return WeighEach(arms, options_, [&](const RuntimeStats& s, double scale) {
    const double n = static_cast<double>(s.count());
    return s.mean().count() - options_.ucb_c * scale * std::sqrt(2.0 * log_plays / n);
  });
}

std::vector<std::optional<double>> BayesUcbStrategy::Weights(const std::vector<Arm>& arms, uint64_t plays) const {
  const double quantile = 1.0 - 1.0 / static_cast<double>(std::max<uint64_t>(plays, 2));
  const double z = boost::math::quantile(boost::math::normal(), quantile);
  return WeighEach(arms, options_, [&](const RuntimeStats& s, double) {
    const double n = static_cast<double>(s.successes());
    const double sd = s.successes() >= 2 ? std::sqrt(s.variance()) : s.mean().count();
    return s.mean().count() - z * sd / std::sqrt(n);
  });
}

std::vector<std::optional<double>> SlidingUcbStrategy::Weights(const std::vector<Arm>& arms, uint64_t plays) const {
  const uint64_t window = std::max<size_t>(options_.window, 1);
  const uint64_t first = plays > window ? plays - window : 0;  // samples after this play count
  const double log_plays = std::log(static_cast<double>(std::clamp<uint64_t>(plays, 1, window)));
  // The windowed means, and their largest as the scale.
  std::vector<std::pair<double, size_t>> windowed;  // (mean, samples)
  double scale = 0;
  for (const Arm& arm : arms) {
    double sum = 0;
    size_t n = 0;
    for (const Sample& sample : arm.stats->recent()) {
      if (sample.play <= first) continue;
      sum += sample.duration.count();
      ++n;
    }
    windowed.emplace_back(n ? sum / static_cast<double>(n) : 0.0, n);
    if (n) scale = std::max(scale, sum / static_cast<double>(n));
  }
  if (scale <= 0) scale = Scale(arms);
  std::vector<std::optional<double>> out;
  for (size_t i = 0; i < arms.size(); ++i) {
    const RuntimeStats& s = *arms[i].stats;
    const auto [mean, n] = windowed[i];
    const double penalty = Penalty(s, scale, options_);
    if (n == 0) {
      // Aged out (or never measured): try it again, unless it is failing now.
      out.push_back(s.failures_in_a_row() > 0 ? std::optional<double>(scale + penalty) : std::nullopt);
      continue;
    }
    out.push_back(mean - options_.sliding_ucb_c * scale * std::sqrt(2.0 * log_plays / static_cast<double>(n)) +
                  penalty);
  }
  return out;
}

const std::vector<std::string>& StrategyNames() {
  static const std::vector<std::string> names{"greedy", "ucb1", "bayes-ucb", "sliding-ucb"};
  return names;
}

Result<std::unique_ptr<PlacementStrategy>> MakeStrategy(std::string_view name, const StrategyOptions& options) {
  if (name == "greedy") return std::unique_ptr<PlacementStrategy>(new GreedyStrategy(options));
  if (name == "ucb1") return std::unique_ptr<PlacementStrategy>(new Ucb1Strategy(options));
  if (name == "bayes-ucb") return std::unique_ptr<PlacementStrategy>(new BayesUcbStrategy(options));
  if (name == "sliding-ucb") return std::unique_ptr<PlacementStrategy>(new SlidingUcbStrategy(options));
  std::string known;
  for (const auto& n : StrategyNames()) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgument("strategy: must be one of " + known + " (not \"" + std::string(name) + "\")");
}

}  // namespace ew::placement
