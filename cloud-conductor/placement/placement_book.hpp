// The conductor's memory of where each function ran and how long it took, and the ranking of
// its runtimes for the next call. Runtimes are named "cloud" or "board:<id>". Kept in memory,
// and handed out (ChangedSince/TakeChanged) for the functions service to write to the registry in
// batches, off the calls' path; a restarted conductor is given them back (Restore).
//
// Thread-safe (one mutex; every method is short and never blocks on I/O).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cloud-conductor/placement/placement_strategy.hpp"
#include "cloud-conductor/placement/runtime_stats.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"

namespace ew::placement {

inline constexpr const char* kCloudRuntime = "cloud";
inline constexpr const char* kBoardPrefix = "board:";
inline std::string BoardRuntime(const std::string& board_id) { return kBoardPrefix + board_id; }

struct Ranking {
  std::string strategy;
  // Every runtime offered, in the order to try them: the strategy's pick first, then by weight,
  // those whose mean misses the deadline after those that can meet it, and the anchor last.
  std::vector<std::string> order;
  std::map<std::string, std::optional<double>> weights;  // nullopt = not measured yet
};

struct RuntimeView {
  std::string runtime;
  RuntimeStats stats;
  std::optional<double> weight;  // under the strategy asked for; nullopt = not measured
  std::optional<Clock::TimePoint> last_at;  // the last call that ended there
};

// What the book knows of one function, as plain values: the unit the registry stores.
struct RuntimeState {
  std::string runtime;
  RuntimeStatsState stats;
  std::optional<Clock::TimePoint> last_at;
};
struct FunctionState {
  std::string function_id;
  uint64_t plays = 0;  // calls of the function so far, all runtimes (the strategies' N)
  std::vector<RuntimeState> runtimes;
};

class PlacementBook {
 public:
  // `random` drives the greedy strategy's exploration; `clock` stamps the last call.
  PlacementBook(const Clock& clock, Random random, StrategyOptions options = {});

  // Ranks `runtimes` (those that can run the call now: online, deployed, allowed) for a call of
  // `function_id` with `strategy`. A deadline pushes back runtimes whose mean exceeds it while
  // another can meet it (a runtime not measured yet may). `anchor` (if among them and not the
  // pick) goes last: where the call falls back in the end. InvalidArgument for an unknown
  // strategy or no runtime at all. `tuning` replaces the book's StrategyOptions for this call (a
  // function's own "placement" in function.json).
  Result<Ranking> Rank(const std::string& function_id, const std::vector<std::string>& runtimes,
                       std::string_view strategy, std::optional<Millis> deadline = std::nullopt,
                       const std::string& anchor = "", const std::optional<StrategyOptions>& tuning = std::nullopt);

  // One attempt of a call of `function_id` on `runtime` ended: `ok` with its duration
  // (conductor side), or failed (error, timeout, unreachable).
  void Record(const std::string& function_id, const std::string& runtime, bool ok, Millis duration);

  // Everything measured of the function, plus any of `runtimes` not measured yet, with each
  // runtime's weight under `strategy` (InvalidArgument for an unknown one).
  Result<std::vector<RuntimeView>> Snapshot(const std::string& function_id, const std::vector<std::string>& runtimes,
                                            std::string_view strategy,
                                            const std::optional<StrategyOptions>& tuning = std::nullopt);
  // The mean duration over the function's runtimes measured (nullopt if none): Retry-After hints.
  std::optional<Millis> MeanDuration(const std::string& function_id);
  // A deleted function's statistics go with it.
  void Forget(const std::string& function_id);

  // Persistence. The state of every function recorded since the last TakeChanged (each once),
  // and the mark cleared: the caller writes them out. When that write fails it gives the ids
  // back with MarkChanged, so the next batch carries them again. O(changed functions).
  std::vector<FunctionState> TakeChanged();
  void MarkChanged(const std::vector<std::string>& function_ids);
  // Loads what the registry kept (at start, before any call): replaces what the book holds of
  // those functions; not marked changed.
  void Restore(std::vector<FunctionState> functions);
  // Whether anything waits to be written.
  bool HasChanges();

  // A strategy's options: the book's own, or `tuning` when given.
  const StrategyOptions& OptionsFor(const std::optional<StrategyOptions>& tuning) const {
    return tuning ? *tuning : options_;
  }

 private:
  struct Runtime {
    RuntimeStats stats;
    std::optional<Clock::TimePoint> last_at;
  };
  struct Function {
    uint64_t plays = 0;
    std::map<std::string, Runtime> runtimes;
  };

  const Clock& clock_;
  StrategyOptions options_;
  std::mutex mu_;
  Random random_;                               // GUARDED_BY(mu_)
  std::map<std::string, Function> functions_;   // GUARDED_BY(mu_)
  std::set<std::string> changed_;               // GUARDED_BY(mu_): recorded since TakeChanged
};

}  // namespace ew::placement
