// The invoking half of the conductor's functions: places each invocation on one of the
// function's runtimes (the boards it is deployed on, and the cloud runtime), runs it there,
// falls back to the next runtime when one fails, measures every attempt for the placement
// statistics, and stores the record (with where it went and why) when it ends. Placement follows
// "Dynamic Allocation of Serverless Functions in IoT Environments": see placement/ and
// docs/FUNCTIONS.md.
//
// Threading: Invoke blocks on the store (deployment checks): call it from the blocking pool.
// `done` runs on the router's strand or a container worker thread; the record is stored from
// the pool right after it. A fallback attempt is started from the pool.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/functions/cloud_runtime.hpp"
#include "cloud-conductor/functions/function_store.hpp"
#include "cloud-conductor/functions/invocation_outcome.hpp"
#include "cloud-conductor/functions/stored_record.hpp"
#include "cloud-conductor/placement/placement_book.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"

namespace ew::functions {

struct InvokerOptions {
  std::chrono::milliseconds invoke_grace{30'000};  // on top of the function's timeout (queueing)
  size_t invocations_kept = 1000;                  // records kept per function
  StoredRecordLimits stored_record;                // output and logs kept per stored record
  // For calls that name none, of functions whose function.json names none ("placement").
  std::string default_strategy = placement::kDefaultStrategy;
  placement::StrategyOptions strategy;             // epsilon, UCB factor, window, failure penalty;
                                                   // a function.json "placement" overrides its own
  // Invocations running at once (sync and async, over every runtime); past either the call is
  // refused with ResourceExhausted (REST: 429 + Retry-After), nothing is queued. A call counts
  // until its run is over where it ran, not until its caller stopped waiting: a cloud run until
  // the cloud runtime reports it ended (answered, dropped from the queue or killed), a board
  // that did not answer in time until the function's timeoutMs + attempt_grace have passed (the
  // board kills it at its timeout).
  size_t max_running_per_function = 32;
  size_t max_running_per_project = 128;
  // Where the Retry-After of a refused call is bounded (the function's mean duration between).
  std::chrono::seconds retry_after_min{1};
  std::chrono::seconds retry_after_max{30};
  // An attempt that has runtimes left to fall back on waits at most the function's timeoutMs plus
  // this (queueing, the network): a runtime that does not answer leaves time for the next one.
  std::chrono::milliseconds attempt_grace{5'000};
  uint64_t random_seed = 0;  // greedy's exploration; 0 = from std::random_device
  // Functions that declare "network": true run in the cloud only when this is set: the cloud
  // runtime shares the conductor host's network (its loopback services, its private network, a
  // cloud metadata endpoint), which is not a function's. Otherwise they run on boards only.
  bool cloud_network = false;
};

// Where a call may run: auto (placement decides), the cloud, or one board.
struct Placement {
  enum class Mode { kAuto, kCloud, kBoard };
  Mode mode = Mode::kAuto;
  std::string board_id;  // kBoard only

  static Placement Auto() { return {}; }
  static Placement Cloud() { return {Mode::kCloud, ""}; }
  static Placement Board(std::string id) { return {Mode::kBoard, std::move(id)}; }
  // "auto", "cloud" or "board:<id>"; InvalidArgument otherwise.
  static Result<Placement> Parse(std::string_view text);
  // A target as older callers give it: "cloud" or a board id.
  static Placement OfTarget(const std::string& target);
};

struct InvokeOptions {
  bool async = false;
  // How long the caller waits for the answer (all attempts together); nullopt = the function's
  // timeoutMs + invoke_grace. Past it the record says timed_out; the function may still finish
  // where it runs, and that late result is dropped.
  std::optional<std::chrono::milliseconds> wait;
  // "" = the function's strategy (function.json "placement"), else the conductor's default; else
  // one of placement::StrategyNames().
  std::string strategy;
  // The caller's deadline: placement skips runtimes whose mean misses it while another can meet
  // it, and the call waits no longer than it.
  std::optional<std::chrono::milliseconds> deadline;
  // The trigger (cloud-conductor/triggers) that fired the call, null = none: the record keeps it as
  // "trigger" ({"trigger": "mqtt"|"schedule", "id": "trg-…"}, the shape of a board's GPIO trigger
  // records), so history shows which calls a trigger made.
  nlohmann::json trigger;
};

// What GET /v1/functions/{id}/stats shows.
struct FunctionStats {
  std::string strategy;
  std::vector<placement::RuntimeView> runtimes;  // measured or available now
  std::vector<std::string> available;            // the runtimes a call could use now
};

class Invoker {
 public:
  using OutcomeDone = std::function<void(InvocationOutcome)>;

  // Everything passed by reference outlives the invoker.
  Invoker(FunctionStore& store, router::BoardGateway& gateway, boost::asio::thread_pool& blocking, const Clock& clock,
          CloudRuntime& cloud, InvokerOptions options);
  // Drops the lingering slots: each holds the shared counters that hold it (a cycle that
  // outlived the conductor, found by LeakSanitizer over the integration tests).
  ~Invoker();
  Invoker(const Invoker&) = delete;
  Invoker& operator=(const Invoker&) = delete;

  // Listens for boards: each time a board registers sys.info the invoker asks it for its
  // concurrency cap (sys.info functionsMaxRunning, the agent's [functions] max_running). Before
  // boards connect.
  void Start();

  // Runs the function with `event` where `where` says, and returns the new invocation's id.
  // Errors before anything runs (nothing stored): InvalidArgument (cloud for a boardOnly
  // function, a board for a cloudOnly one, an unknown strategy), Conflict (not deployed on that
  // board, or its deployment failed or is pending), Unavailable (board offline; for auto: no
  // runtime can run it now), ResourceExhausted (too many running; or, for auto, every runtime
  // that could run it is a board at its concurrency cap — a call forced onto a board is sent
  // anyway: that board's agent queues it). A forced placement runs
  // there only; auto tries the runtimes in the strategy's order until one answers (an error,
  // a runtime that certainly did not run it moves on: unreachable, refused, failed to start;
  // a timeout or no answer moves on only when the function says "retryOnTimeout", as it may
  // still run there; a function that failed by itself does not), ending with the cloud. Once it started, the record is stored when it ends (with status "running" until
  // then when `options.async`), and `done` (may be null) gets the outcome.
  // No silent loss: an asynchronous invocation starts only once its "running" record is stored,
  // else the store's error (Unavailable "store unavailable: <why>", REST 503). After a record
  // failed to store, every invocation (synchronous too) first stores its "running" record until
  // one succeeds, so a failing store answers 503 instead of 200s whose records vanish. The one
  // window left: a store failing while a synchronous call runs loses that record from history
  // (the caller has it in the answer; the failure is logged at error).
  Result<std::string> Invoke(const FunctionRecord& function, const Placement& where, nlohmann::json event,
                             const InvokeOptions& options, OutcomeDone done = nullptr);

  // The placement statistics of `function` under `strategy` ("" = default). Blocking.
  Result<FunctionStats> Stats(const FunctionRecord& function, const std::string& strategy);
  // How long a caller refused for too many running should wait: the function's mean duration,
  // bounded by retry_after_min/max.
  std::chrono::seconds RetryAfter(const std::string& function_id);
  // A deleted function's statistics go with it.
  void Forget(const std::string& function_id) { book_.Forget(function_id); }

  // Persistence of the placement statistics (registry v8). Blocking: from the pool or at
  // start/stop. RestoreStats loads what the store kept (before calls arrive); FlushStats writes
  // what changed since the last flush in one transaction (nothing when nothing did); on a store
  // error the functions stay marked and go with the next flush. Returns the functions written.
  Result<void> RestoreStats();
  Result<size_t> FlushStats();

  // The cap a board reported (0 = none known) and the invocations the conductor has running
  // there now: what placement keeps to. Thread-safe.
  size_t BoardCap(const std::string& board_id) const;
  size_t RunningOn(const std::string& board_id) const;

 private:
  struct Call;  // one invocation across its attempts (invoker.cpp)
  struct Slot;  // a place under the concurrency limits, given back when the call ends
  // Shared with the slots: a call's last handler may be dropped after the invoker is gone (a
  // pending timer destroyed with its io_context), and its slot must not reach into a dead invoker.
  struct Running {
    std::mutex mu;
    std::map<std::string, size_t> by_function;  // GUARDED_BY(mu)
    std::map<std::string, size_t> by_project;   // GUARDED_BY(mu)
    std::map<std::string, size_t> by_board;     // GUARDED_BY(mu): attempts sent and not answered
    // Slots of calls answered while their board may still run them, held until the time given
    // (steady clock), then dropped by the next Admit.
    std::vector<std::pair<std::chrono::steady_clock::time_point, std::shared_ptr<Slot>>> lingering;  // GUARDED_BY(mu)
  };
  struct BoardHold;  // one attempt counted against its board's cap until it ends

  // The version that runs on `target` (a board id or kCloudTarget) after the checks of Invoke.
  Result<FunctionVersion> Resolve(const FunctionRecord& function, const std::string& target);
  // A function declaring network that this conductor's cloud runtime may not run
  // (InvokerOptions::cloud_network off).
  bool CloudRefusesNetwork(const containers::FunctionSpec& spec) const { return spec.network && !options_.cloud_network; }
  // The runtimes ("cloud", "board:<id>") that could run a call of `function` now.
  Result<std::vector<std::string>> Available(const FunctionRecord& function);
  Result<std::shared_ptr<Slot>> Admit(const FunctionRecord& function);
  // The strategy of a call: the call's, else the function's, else the default; and the options
  // the function's "placement" tunes (nullopt: the conductor's).
  std::string StrategyOf(const FunctionRecord& function, const std::string& asked) const;
  std::optional<placement::StrategyOptions> TuningOf(const FunctionRecord& function) const;
  // Whether `runtime` is a board with as many attempts running as its cap.
  bool AtCap(const std::string& runtime) const;
  // Counts an attempt on `target` (a board) until the hold is dropped; null for the cloud.
  std::shared_ptr<BoardHold> HoldBoard(const std::string& target);
  void LearnCap(const std::string& board_id);
  // Keeps `slot` counted until `until`: a run that may go on after its caller was answered.
  void Linger(std::shared_ptr<Slot> slot, std::chrono::steady_clock::time_point until);
  void Attempt(std::shared_ptr<Call> call);
  void Finish(const std::shared_ptr<Call>& call, InvocationOutcome outcome);
  // Stores the invocation record; remembers in records_failing_ whether it failed.
  Result<void> Store(const std::shared_ptr<Call>& call, const nlohmann::json& record);

  FunctionStore& store_;
  router::BoardGateway& gateway_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  CloudRuntime& cloud_;
  InvokerOptions options_;
  placement::PlacementBook book_;
  std::shared_ptr<Running> running_ = std::make_shared<Running>();
  mutable std::mutex caps_mu_;
  std::map<std::string, size_t> caps_;  // GUARDED_BY(caps_mu_): board id → its reported cap
  // The last invocation record could not be stored (written from the pool, read by Invoke).
  std::atomic<bool> records_failing_{false};
};

}  // namespace ew::functions
