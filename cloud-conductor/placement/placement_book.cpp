#include "cloud-conductor/placement/placement_book.hpp"

#include <algorithm>

namespace ew::placement {

PlacementBook::PlacementBook(const Clock& clock, Random random, StrategyOptions options)
    : clock_(clock), options_(options), random_(std::move(random)) {}

Result<Ranking> PlacementBook::Rank(const std::string& function_id, const std::vector<std::string>& runtimes,
                                    std::string_view strategy_name, std::optional<Millis> deadline,
                                    const std::string& anchor, const std::optional<StrategyOptions>& tuning) {
  EW_TRY(auto strategy, MakeStrategy(strategy_name, OptionsFor(tuning)));
  if (runtimes.empty()) return InvalidArgument("no runtime to rank");
  std::lock_guard<std::mutex> lock(mu_);
  Function& function = functions_[function_id];
  std::vector<Arm> arms;
  for (const auto& runtime : runtimes) arms.push_back(Arm{&function.runtimes[runtime].stats});
  const auto weights = strategy->Weights(arms, function.plays);
  const size_t pick = strategy->Pick(arms, weights, random_);

  Ranking ranking;
  ranking.strategy = std::string(strategy->name());
  std::vector<size_t> order(runtimes.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // The pick, then untried runtimes, then by weight (stable: the caller's order breaks ties).
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if ((a == pick) != (b == pick)) return a == pick;
    if (weights[a].has_value() != weights[b].has_value()) return !weights[a].has_value();
    return weights[a] && weights[b] && *weights[a] < *weights[b];
  });
  if (deadline) {
    auto misses = [&](size_t i) {
      const RuntimeStats& s = *arms[i].stats;
      return s.successes() > 0 && s.mean() > *deadline;
    };
    if (!std::all_of(order.begin(), order.end(), misses))
      std::stable_partition(order.begin(), order.end(), [&](size_t i) { return !misses(i); });
  }
  for (size_t i : order) ranking.order.push_back(runtimes[i]);
  if (!anchor.empty() && ranking.order.size() > 1 && ranking.order.front() != anchor) {
    auto it = std::find(ranking.order.begin() + 1, ranking.order.end(), anchor);
    if (it != ranking.order.end()) std::rotate(it, it + 1, ranking.order.end());
  }
  for (size_t i = 0; i < runtimes.size(); ++i) ranking.weights[runtimes[i]] = weights[i];
  return ranking;
}

void PlacementBook::Record(const std::string& function_id, const std::string& runtime, bool ok, Millis duration) {
  std::lock_guard<std::mutex> lock(mu_);
  Function& function = functions_[function_id];
  const uint64_t play = ++function.plays;
  Runtime& r = function.runtimes[runtime];
  if (ok) {
    r.stats.RecordSuccess(duration, play);
  } else {
    r.stats.RecordFailure(play);
  }
  r.last_at = clock_.Now();
  changed_.insert(function_id);
}

Result<std::vector<RuntimeView>> PlacementBook::Snapshot(const std::string& function_id,
                                                         const std::vector<std::string>& runtimes,
                                                         std::string_view strategy_name,
                                                         const std::optional<StrategyOptions>& tuning) {
  EW_TRY(auto strategy, MakeStrategy(strategy_name, OptionsFor(tuning)));
  std::lock_guard<std::mutex> lock(mu_);
  Function empty;
  auto found = functions_.find(function_id);
  const Function& function = found == functions_.end() ? empty : found->second;
  std::map<std::string, Runtime> all = function.runtimes;
  for (const auto& runtime : runtimes) all.emplace(runtime, Runtime{});
  std::vector<Arm> arms;
  std::vector<RuntimeView> out;
  for (const auto& [name, runtime] : all) {
    out.push_back(RuntimeView{name, runtime.stats, std::nullopt, runtime.last_at});
  }
  for (const auto& view : out) arms.push_back(Arm{&view.stats});
  const auto weights = strategy->Weights(arms, function.plays);
  for (size_t i = 0; i < out.size(); ++i) out[i].weight = weights[i];
  return out;
}

std::optional<Millis> PlacementBook::MeanDuration(const std::string& function_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = functions_.find(function_id);
  if (found == functions_.end()) return std::nullopt;
  double sum = 0;
  uint64_t n = 0;
  for (const auto& [name, runtime] : found->second.runtimes) {
    sum += runtime.stats.mean().count() * static_cast<double>(runtime.stats.successes());
    n += runtime.stats.successes();
  }
  if (n == 0) return std::nullopt;
  return Millis(sum / static_cast<double>(n));
}

void PlacementBook::Forget(const std::string& function_id) {
  std::lock_guard<std::mutex> lock(mu_);
  functions_.erase(function_id);
  changed_.erase(function_id);
}

std::vector<FunctionState> PlacementBook::TakeChanged() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<FunctionState> out;
  for (const auto& id : changed_) {
    auto found = functions_.find(id);
    if (found == functions_.end()) continue;
    FunctionState state{id, found->second.plays, {}};
    for (const auto& [name, runtime] : found->second.runtimes) {
      state.runtimes.push_back(RuntimeState{name, runtime.stats.state(), runtime.last_at});
    }
    out.push_back(std::move(state));
  }
  changed_.clear();
  return out;
}

void PlacementBook::MarkChanged(const std::vector<std::string>& function_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& id : function_ids) {
    if (functions_.count(id)) changed_.insert(id);
  }
}

void PlacementBook::Restore(std::vector<FunctionState> functions) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& state : functions) {
    Function function;
    function.plays = state.plays;
    for (auto& runtime : state.runtimes) {
      function.runtimes[runtime.runtime] = Runtime{RuntimeStats::FromState(std::move(runtime.stats)), runtime.last_at};
    }
    functions_[state.function_id] = std::move(function);
  }
}

bool PlacementBook::HasChanges() {
  std::lock_guard<std::mutex> lock(mu_);
  return !changed_.empty();
}

}  // namespace ew::placement
