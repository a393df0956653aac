#include "cloud-conductor/functions/invoker.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <random>

#include <boost/asio/post.hpp>

#include "common/contract/fn.hpp"
#include "common/contract/sys.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"

namespace ew::functions {

using nlohmann::json;
using placement::Millis;

namespace {

const ew::log::Logger Log{"functions"};

namespace fn = contract::fn;

// The status of an outcome's record (set by the board, the cloud host or OutcomeOfError).
InvocationStatus StatusOf(const json& record) {
  auto status = contract::ParseInvocationStatus(record.value("status", ""));
  return status ? *status : InvocationStatus::kFailed;
}

// The runtime name placement uses for a target ("cloud" or a board id).
std::string RuntimeOf(const std::string& target) {
  return target == kCloudTarget ? std::string(placement::kCloudRuntime) : placement::BoardRuntime(target);
}
std::string TargetOf(const std::string& runtime) {
  const std::string prefix = placement::kBoardPrefix;
  return runtime.compare(0, prefix.size(), prefix) == 0 ? runtime.substr(prefix.size()) : std::string(kCloudTarget);
}

placement::Random SeededRandom(uint64_t seed) {
  auto engine = std::make_shared<std::mt19937_64>(seed ? seed : std::random_device{}());
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

// Whether an attempt that ended with `outcome` may have run the function (so that running it
// elsewhere too could run it twice): it timed out, or no answer came (the call's deadline, a
// board that left in the middle of the call, an answer that was not a record). Refused,
// unreachable, not installed, failed to start: it did not run.
bool MaybeRan(const InvocationOutcome& outcome) {
  if (!outcome.error) return true;  // a record: it ran (and timed out, or failed by itself)
  switch (outcome.error->code) {
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kCancelled:
    case ErrorCode::kInternal:
    // The router's code for a callee whose session closed while the call was with it
    // (router.cpp, Cleanup): the board had the call and may have started it.
    case ErrorCode::kCalleeLeft:
      return true;
    default:
      return false;
  }
}

const char* ModeName(Placement::Mode mode) {
  switch (mode) {
    case Placement::Mode::kAuto: return "auto";
    case Placement::Mode::kCloud: return "cloud";
    case Placement::Mode::kBoard: return "board";
  }
  return "auto";
}

}  // namespace

Result<Placement> Placement::Parse(std::string_view text) {
  if (text == "auto") return Auto();
  if (text == "cloud") return Cloud();
  const std::string_view prefix = placement::kBoardPrefix;
  if (text.substr(0, prefix.size()) == prefix && text.size() > prefix.size())
    return Board(std::string(text.substr(prefix.size())));
  return InvalidArgument("placement: must be \"auto\", \"cloud\" or \"board:<board id>\"");
}

Placement Placement::OfTarget(const std::string& target) {
  return target == kCloudTarget ? Cloud() : Board(target);
}

// A place under the concurrency limits of a function and its project, held by the call.
struct Invoker::Slot {
  std::shared_ptr<Running> running;
  std::string function_id;
  std::string project_id;
  ~Slot() {
    std::lock_guard<std::mutex> lock(running->mu);
    if (--running->by_function[function_id] == 0) running->by_function.erase(function_id);
    if (--running->by_project[project_id] == 0) running->by_project.erase(project_id);
  }
};

// An attempt on a board, counted against the board's cap while it runs.
struct Invoker::BoardHold {
  std::shared_ptr<Running> running;
  std::string board_id;
  ~BoardHold() {
    std::lock_guard<std::mutex> lock(running->mu);
    if (--running->by_board[board_id] == 0) running->by_board.erase(board_id);
  }
};

struct Invoker::Call {
  FunctionRecord function;
  std::string id;
  int64_t created_at = 0;
  json event;
  OutcomeDone done;
  std::shared_ptr<Slot> slot;
  Placement::Mode mode = Placement::Mode::kAuto;
  std::string strategy;                                   // auto only
  std::map<std::string, std::optional<double>> weights;   // auto only: the ranking's weights
  std::vector<std::string> order;                         // runtimes to try, in order
  size_t next = 0;                                        // the next runtime of order to try
  std::optional<FunctionVersion> forced_version;          // a forced call's checked version
  std::chrono::steady_clock::time_point ends;             // the caller stops waiting
  std::string target;                                     // where the last attempt ran
  json tried = json::array();                             // {runtime, status, ms[, error]} per attempt
  json trigger;                                           // the trigger that fired it, null = none
};

Invoker::Invoker(FunctionStore& store, router::BoardGateway& gateway, boost::asio::thread_pool& blocking,
                 const Clock& clock, CloudRuntime& cloud, InvokerOptions options)
    : store_(store),
      gateway_(gateway),
      blocking_(blocking),
      clock_(clock),
      cloud_(cloud),
      options_(std::move(options)),
      book_(clock, SeededRandom(options_.random_seed), options_.strategy) {}

Invoker::~Invoker() {
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::shared_ptr<Slot>>> lingering;
  {
    std::lock_guard<std::mutex> lock(running_->mu);
    lingering.swap(running_->lingering);
  }
  // Released here, outside the lock (~Slot takes it).
}

void Invoker::Start() {
  gateway_.OnBoardRegistered([this](const std::string& board_id, const std::string& suffix) {
    if (suffix == contract::sys::kInfo.suffix) LearnCap(board_id);
  });
}

void Invoker::LearnCap(const std::string& board_id) {
  // Asked at each registration: an agent restarted with another [functions] max_running
  // reports the new one. Until it answers the board has no cap (it queues what it cannot run).
  gateway_.CallBoard(board_id, contract::sys::kInfo.suffix, contract::Empty{}.ToPayload(), std::chrono::seconds(10),
                     [this, board_id](Result<wamp::Payload> reply) {
                       if (!reply) return;  // offline again, or no sys.info: nothing learnt
                       auto info = contract::sys::SysInfo::Parse(*reply);
                       if (!info) {
                         Log()->warn("board={} sys.info: {}: no concurrency cap known", board_id, info.error().message);
                         return;
                       }
                       std::lock_guard<std::mutex> lock(caps_mu_);
                       if (info->functions_max_running > 0) {
                         caps_[board_id] = static_cast<size_t>(info->functions_max_running);
                       } else {
                         caps_.erase(board_id);
                       }
                     });
}

size_t Invoker::BoardCap(const std::string& board_id) const {
  std::lock_guard<std::mutex> lock(caps_mu_);
  auto it = caps_.find(board_id);
  return it == caps_.end() ? 0 : it->second;
}

size_t Invoker::RunningOn(const std::string& board_id) const {
  std::lock_guard<std::mutex> lock(running_->mu);
  auto it = running_->by_board.find(board_id);
  return it == running_->by_board.end() ? 0 : it->second;
}

bool Invoker::AtCap(const std::string& runtime) const {
  const std::string target = TargetOf(runtime);
  if (target == kCloudTarget) return false;  // the cloud runtime has its own queue ([functions] max_running)
  const size_t cap = BoardCap(target);
  return cap > 0 && RunningOn(target) >= cap;
}

std::shared_ptr<Invoker::BoardHold> Invoker::HoldBoard(const std::string& target) {
  if (target == kCloudTarget) return nullptr;
  std::lock_guard<std::mutex> lock(running_->mu);
  ++running_->by_board[target];
  return std::shared_ptr<BoardHold>(new BoardHold{running_, target});
}

std::string Invoker::StrategyOf(const FunctionRecord& function, const std::string& asked) const {
  if (!asked.empty()) return asked;
  if (!function.latest.spec.placement.strategy.empty()) return function.latest.spec.placement.strategy;
  return options_.default_strategy;
}

std::optional<placement::StrategyOptions> Invoker::TuningOf(const FunctionRecord& function) const {
  const containers::PlacementSpec& spec = function.latest.spec.placement;
  if (!spec.epsilon && !spec.ucb_c && !spec.window) return std::nullopt;
  placement::StrategyOptions tuned = options_.strategy;
  if (spec.epsilon) tuned.epsilon = *spec.epsilon;
  // One knob for both UCBs' exploration factor: the function names one strategy anyway.
  if (spec.ucb_c) tuned.ucb_c = tuned.sliding_ucb_c = *spec.ucb_c;
  if (spec.window) tuned.window = *spec.window;
  return tuned;
}

Result<void> Invoker::RestoreStats() {
  EW_TRY(auto functions, store_.LoadPlacementStats());
  Log()->info("placement statistics of {} functions restored", functions.size());
  book_.Restore(std::move(functions));
  return Ok();
}

Result<size_t> Invoker::FlushStats() {
  auto changed = book_.TakeChanged();
  if (changed.empty()) return size_t{0};
  if (auto stored = store_.PutPlacementStats(changed); !stored) {
    std::vector<std::string> ids;
    for (const auto& function : changed) ids.push_back(function.function_id);
    book_.MarkChanged(ids);  // kept for the next flush
    Log()->error("placement statistics of {} functions not stored (next flush retries): {}", changed.size(),
                 stored.error().message);
    return tl::unexpected(stored.error());
  }
  return changed.size();
}

Result<FunctionVersion> Invoker::Resolve(const FunctionRecord& function, const std::string& target) {
  if (target == kCloudTarget) {
    if (function.latest.spec.board_only)
      return InvalidArgument("function " + function.name + " is boardOnly: it cannot run in the cloud");
    if (CloudRefusesNetwork(function.latest.spec))
      return InvalidArgument("function " + function.name +
                             " declares network: the cloud runtime would share the conductor's network, which this "
                             "conductor does not allow ([functions] cloud_network = false); run it on a board");
    return function.latest;
  }
  if (function.latest.spec.cloud_only)
    return InvalidArgument("function " + function.name + " is cloudOnly: it cannot run on a board");
  EW_TRY(auto deployment, store_.GetDeployment(function.id, target));
  if (!deployment) return Conflict("function " + function.name + " is not deployed on board " + target);
  if (deployment->state == DeploymentState::kFailed)
    return Conflict("the deployment of function " + function.name + " on board " + target + " failed (" +
                    deployment->error + "): deploy it again");
  if (!gateway_.Presence(target)) return Unavailable("board " + target + " is offline");
  // "deploying" is let through: a returning board is redeployed what it already runs.
  if (deployment->state == DeploymentState::kPending)
    return Conflict("function " + function.name + " is not deployed on board " + target + " yet (pending)");
  // The board runs the version it was given, with that version's limits.
  return store_.GetVersion(function.id, deployment->sha256);
}

Result<std::vector<std::string>> Invoker::Available(const FunctionRecord& function) {
  std::vector<std::string> out;
  if (!function.latest.spec.cloud_only) {
    EW_TRY(auto deployments, store_.ListDeployments(function.id));
    for (const auto& d : deployments) {
      const bool runs = d.state == DeploymentState::kDeployed || d.state == DeploymentState::kDeploying;
      // Offline boards are never offered: placement cannot explore them.
      if (runs && gateway_.Presence(d.board_id)) out.push_back(placement::BoardRuntime(d.board_id));
    }
  }
  const bool cloud_allowed = !function.latest.spec.board_only && !CloudRefusesNetwork(function.latest.spec);
  if (cloud_allowed && cloud_.IsUsable()) out.push_back(placement::kCloudRuntime);
  return out;
}

void Invoker::Linger(std::shared_ptr<Slot> slot, std::chrono::steady_clock::time_point until) {
  std::lock_guard<std::mutex> lock(running_->mu);
  running_->lingering.emplace_back(until, std::move(slot));
}

Result<std::shared_ptr<Invoker::Slot>> Invoker::Admit(const FunctionRecord& function) {
  std::vector<std::shared_ptr<Slot>> expired;  // released outside the lock (~Slot takes it)
  {
    std::lock_guard<std::mutex> lock(running_->mu);
    const auto now = clock_.Steady();
    auto& lingering = running_->lingering;
    for (auto it = lingering.begin(); it != lingering.end();) {
      if (it->first <= now) {
        expired.push_back(std::move(it->second));
        it = lingering.erase(it);
      } else {
        ++it;
      }
    }
  }
  expired.clear();
  std::lock_guard<std::mutex> lock(running_->mu);
  size_t& by_function = running_->by_function[function.id];
  size_t& by_project = running_->by_project[function.project_id];
  if (by_function >= options_.max_running_per_function) {
    if (by_project == 0) running_->by_project.erase(function.project_id);
    return ResourceExhausted("function " + function.name + " has " + std::to_string(options_.max_running_per_function) +
                             " invocations running (the limit): try again later");
  }
  if (by_project >= options_.max_running_per_project) {
    if (by_function == 0) running_->by_function.erase(function.id);
    return ResourceExhausted("project " + function.project_id + " has " +
                             std::to_string(options_.max_running_per_project) +
                             " invocations running (the limit): try again later");
  }
  ++by_function;
  ++by_project;
  return std::shared_ptr<Slot>(new Slot{running_, function.id, function.project_id});
}

std::chrono::seconds Invoker::RetryAfter(const std::string& function_id) {
  const auto mean = book_.MeanDuration(function_id);
  const auto seconds = std::chrono::seconds(mean ? static_cast<int64_t>(std::ceil(mean->count() / 1000.0)) : 1);
  return std::clamp(seconds, options_.retry_after_min, options_.retry_after_max);
}

Result<std::string> Invoker::Invoke(const FunctionRecord& function, const Placement& where, json event,
                                    const InvokeOptions& options, OutcomeDone done) {
  const std::string strategy = StrategyOf(function, options.strategy);
  if (auto known = placement::MakeStrategy(strategy); !known) return tl::unexpected(known.error());
  auto call = std::make_shared<Call>();
  call->function = function;
  call->mode = where.mode;
  FunctionVersion first = function.latest;  // whose timeout sets the default wait
  if (where.mode == Placement::Mode::kAuto) {
    EW_TRY(auto runtimes, Available(function));
    if (runtimes.empty()) {
      std::string why = "function " + function.name + " has no runtime to run on now (no online board it is deployed on";
      if (function.latest.spec.board_only) {
        why += ")";
      } else if (CloudRefusesNetwork(function.latest.spec)) {
        why += ", and it declares network, which this conductor's cloud does not run: [functions] cloud_network = false)";
      } else {
        why += ", and no cloud runtime)";
      }
      return Unavailable(why);
    }
    // A board at its concurrency cap is skipped while another runtime can take the call.
    std::vector<std::string> open;
    std::copy_if(runtimes.begin(), runtimes.end(), std::back_inserter(open),
                 [this](const std::string& runtime) { return !AtCap(runtime); });
    if (open.empty()) {
      return ResourceExhausted("every runtime of function " + function.name +
                               " is a board at its concurrency cap ([functions] max_running of its agent): "
                               "try again later");
    }
    std::optional<Millis> deadline;
    if (options.deadline) deadline = Millis(*options.deadline);
    EW_TRY(auto ranking,
           book_.Rank(function.id, open, strategy, deadline, placement::kCloudRuntime, TuningOf(function)));
    call->strategy = ranking.strategy;
    call->weights = std::move(ranking.weights);
    call->order = std::move(ranking.order);
  } else {
    const std::string target = where.mode == Placement::Mode::kCloud ? std::string(kCloudTarget) : where.board_id;
    // A call forced onto a board at its cap is not refused: the caller chose that board, and its
    // agent queues what it cannot run yet (bounded there: HostConfig::max_queued, then an error).
    EW_TRY(first, Resolve(function, target));
    call->forced_version = first;
    call->order = {RuntimeOf(target)};
  }
  EW_TRY(call->slot, Admit(function));
  auto wait = options.wait.value_or(first.spec.timeout + options_.invoke_grace);
  if (options.deadline) wait = std::min(wait, *options.deadline);
  call->ends = clock_.Steady() + wait;
  call->id = ids::NewId("inv");
  call->created_at = UnixSeconds(clock_.Now());
  call->event = std::move(event);
  call->done = std::move(done);
  call->target = TargetOf(call->order.front());
  call->trigger = options.trigger;
  if (options.async || records_failing_.load()) {
    json running = {{"status", "running"}};
    LabelRecord(running, call->id, call->target);
    if (!call->trigger.is_null()) running["trigger"] = call->trigger;
    EW_TRY_VOID(Store(call, running));  // no record, no call: the caller gets 503, not a lost record
  }
  Log()->debug("invocation {} of {} ({}): {}", call->id, function.id, ModeName(where.mode), call->order.front());
  const std::string id = call->id;
  Attempt(std::move(call));
  return id;
}

void Invoker::Attempt(std::shared_ptr<Call> call) {
  while (call->next < call->order.size()) {
    const std::string runtime = call->order[call->next++];
    const std::string target = TargetOf(runtime);
    Result<FunctionVersion> version =
        call->forced_version ? Result<FunctionVersion>(*call->forced_version) : Resolve(call->function, target);
    if (!version) {
      // Went offline or undeployed since it was ranked: not an attempt, nothing measured.
      call->tried.push_back({{"runtime", runtime}, {"status", "skipped"}, {"error", version.error().message}});
      continue;
    }
    const bool last = call->next >= call->order.size();
    if (!last && AtCap(runtime)) {
      // Filled up since it was ranked: the next runtime takes the call. The last one is sent
      // anyway (the board queues it) rather than failing a call a runtime can still serve.
      call->tried.push_back({{"runtime", runtime}, {"status", "skipped"}, {"error", "at its concurrency cap"}});
      continue;
    }
    const auto now = clock_.Steady();
    if (now >= call->ends) break;
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(call->ends - now);
    call->target = target;
    if (!last) wait = std::min(wait, version->spec.timeout + options_.attempt_grace);
    json event = last ? std::move(call->event) : call->event;  // a fallback needs it again
    const auto run_limit = version->spec.timeout + options_.attempt_grace;
    const bool retry_on_timeout = version->spec.retry_on_timeout;
    auto ended = [this, call, runtime, target, run_limit, retry_on_timeout, started = now,
                  hold = HoldBoard(target)](InvocationOutcome outcome) mutable {
      hold.reset();  // the board's slot (its per-board cap) is free as soon as it answered
      const Millis took = clock_.Steady() - started;
      const bool failed = outcome.error || StatusOf(outcome.record) == InvocationStatus::kTimedOut;
      const bool maybe_ran = MaybeRan(outcome);
      // A board that did not answer may still run it (until it kills it at its timeout): the
      // call keeps counting against the limits until then. The cloud says when its run ended.
      if (target != kCloudTarget && outcome.error && maybe_ran) Linger(call->slot, started + run_limit);
      book_.Record(call->function.id, runtime, !failed, took);
      json attempt = {{"runtime", runtime}, {"status", outcome.record.value("status", "failed")},
                      {"ms", std::round(took.count() * 1000.0) / 1000.0}};
      if (outcome.error) attempt["error"] = outcome.error->message;
      call->tried.push_back(std::move(attempt));
      // At most once unless the function opts in: a runtime that may have run it is not
      // followed by another (a GPIO side effect would happen twice).
      const bool may_fall_back = !maybe_ran || retry_on_timeout;
      if (failed && may_fall_back && call->next < call->order.size() && clock_.Steady() < call->ends) {
        Log()->info("invocation {} of {}: {} did not answer ({}), falling back", call->id, call->function.id, runtime,
                    outcome.error ? outcome.error->message : std::string("timed out"));
        // Resolving the next runtime reads the store: from the pool, not the router's strand.
        return boost::asio::post(blocking_, [this, call] { Attempt(call); });
      }
      Finish(call, std::move(outcome));
    };
    if (target == kCloudTarget) {
      // The slot stays taken until the cloud run is over, even when the caller was answered first.
      cloud_.Run(call->function.id, call->function.project_id, *version, std::move(event), wait, std::move(ended),
                 [held = std::make_shared<std::shared_ptr<Slot>>(call->slot)] { held->reset(); });
    } else {
      gateway_.CallBoard(target, fn::kInvoke.suffix, fn::InvokeRequest{call->function.id, std::move(event)}.ToPayload(),
                         wait, [target, ended = std::move(ended)](Result<wamp::Payload> result) mutable {
                           if (!result) return ended(OutcomeOfError(result.error(), target));
                           auto record = fn::InvocationRecord::Parse(*result);
                           if (!record) {
                             return ended(OutcomeOfError(
                                 Error{ErrorCode::kInternal, "board " + target +
                                                                 " answered without an invocation record (" +
                                                                 record.error().message + ")"},
                                 target));
                           }
                           ended(InvocationOutcome{record->ToJson(), std::nullopt});
                         });
    }
    return;
  }
  // Every runtime left was skipped, or the caller's time ran out between attempts.
  const bool late = clock_.Steady() >= call->ends;
  Finish(call, OutcomeOfError(late ? Error{ErrorCode::kDeadlineExceeded, "no runtime answered in time"}
                                   : Error{ErrorCode::kUnavailable, "no runtime of function " + call->function.name +
                                                                        " could run it"},
                              call->target));
}

void Invoker::Finish(const std::shared_ptr<Call>& call, InvocationOutcome outcome) {
  LabelRecord(outcome.record, call->id, call->target);
  json placed = {{"mode", ModeName(call->mode)}, {"runtime", RuntimeOf(call->target)}, {"tried", call->tried}};
  if (call->mode == Placement::Mode::kAuto) {
    placed["strategy"] = call->strategy;
    json weights = json::object();
    for (const auto& [runtime, weight] : call->weights) {
      weights[runtime] = weight ? json(std::round(*weight * 1000.0) / 1000.0) : json();
    }
    placed["weights"] = std::move(weights);
  }
  outcome.record["placement"] = std::move(placed);
  if (!call->trigger.is_null()) outcome.record["trigger"] = call->trigger;
  call->slot.reset();  // counts on only while a run of it may go on (cloud: Run's `ended`; Linger)
  // The caller gets the record in the answer, so the store write comes after it: off the
  // invocation's path (a burst of 100 otherwise queues 100 SQLite commits on the pool first).
  json record = outcome.record;
  if (call->done) call->done(std::move(outcome));
  boost::asio::post(blocking_, [this, call, record = std::move(record)] {
    (void)Store(call, record);  // logged; records_failing_ makes the next calls check first
  });
}

Result<void> Invoker::Store(const std::shared_ptr<Call>& call, const json& record) {
  Invocation invocation;
  invocation.id = call->id;
  invocation.function_id = call->function.id;
  invocation.target = call->target;
  invocation.status = StatusOf(record);
  invocation.record = record;
  CapStoredRecord(invocation.record, options_.stored_record);
  invocation.created_at = call->created_at;
  auto stored = store_.PutInvocation(invocation, options_.invocations_kept);
  records_failing_.store(!stored);
  if (!stored) Log()->error("invocation {} of {}: not recorded: {}", call->id, call->function.id, stored.error().message);
  return stored;
}

Result<FunctionStats> Invoker::Stats(const FunctionRecord& function, const std::string& strategy_name) {
  const std::string strategy = StrategyOf(function, strategy_name);
  FunctionStats stats;
  EW_TRY(stats.available, Available(function));
  EW_TRY(stats.runtimes, book_.Snapshot(function.id, stats.available, strategy, TuningOf(function)));
  stats.strategy = strategy;
  return stats;
}

}  // namespace ew::functions
