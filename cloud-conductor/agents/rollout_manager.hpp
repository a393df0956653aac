// Agent updates over the air on the conductor's side (issue 16): rollouts of an uploaded agent
// package to boards, rolling N at a time, and what each board's agent says it runs.
//
// A rollout asks up to `parallel` boards at once to update (sys.update, update id = rollout id).
// Each board fetches the package over its own session (ew.conductor.update.fetch: only a board
// of a live rollout, while it is fetching), stages it for its root helper and reports
// (ew.conductor.update.report) installing, then online from the new agent, or rolled-back /
// failed. The next board starts when one comes online; the first board that fails or rolls back
// stops the rollout (the boards not yet asked stay pending). A board that says nothing for
// deadline + silence_grace is failed.
//
// Rollouts are kept in the registry (RolloutStore): every change is written from the blocking
// pool, in order, the newest state of a rollout winning. A conductor that starts and finds a
// rollout still running marks it interrupted and asks no more boards: boards that were fetching
// lost their fetch with the old session (failed), boards that were installing go on by themselves
// and their reports are still recorded when they rejoin, boards not yet asked stay pending for
// the operator to run again (docs/ARCHITECTURE.md "Agent updates", why not resume).
//
// Threading: gateway hooks run on the router's strand; REST calls come from the blocking pool;
// all state is behind one mutex and board calls and store writes are made outside it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "cloud-conductor/agents/agent_package_store.hpp"
#include "cloud-conductor/agents/rollout.hpp"
#include "cloud-conductor/agents/rollout_store.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "common/clock/clock.hpp"
#include "common/contract/update.hpp"

namespace ew::conductor::agents {

struct RolloutManagerOptions {
  // A board that has not reported a final state this long after it was asked, beyond the
  // rollout's deadline (which the board's helper applies), is failed: fetching and installing
  // take time too.
  std::chrono::seconds silence_grace{300};
  std::chrono::milliseconds call_timeout{10'000};  // sys.update answers at once
  std::chrono::milliseconds tick{1'000};           // how often silence is checked
  size_t max_boards = 1000;                        // per rollout
  // Finished rollouts (done, stopped, interrupted) kept, in memory and in the registry; older ones
  // are forgotten as new ones finish. A history, not an audit log: the conductor's log has each step.
  size_t max_finished_rollouts = 100;
};

struct AgentVersions {
  std::string agent_version;
  std::string package_version;
};

class RolloutManager {
 public:
  // Everything outlives the manager; `blocking` is joined before the manager is destroyed (a write
  // may be under way on it).
  RolloutManager(router::BoardGateway& gateway, AgentPackageStore& packages, RolloutStore& store,
                 boost::asio::thread_pool& blocking, const Clock& clock, boost::asio::any_io_executor executor,
                 RolloutManagerOptions options = {});
  ~RolloutManager();

  // Reads the stored rollouts (a running one becomes interrupted, written back at once), serves
  // ew.conductor.update.fetch / .report, asks every board that registers sys.info for its
  // versions, and checks silence every tick. Call once, before boards connect and before the io
  // loop runs (it reads and writes the store on the caller's thread). Errors of the store.
  Result<void> Start();
  void Stop();

  // Starts a rollout of `package` to `boards` (distinct ids, 1..max_boards, in this order). Blocking:
  // the rollout is written to the store before any board is asked (the blocking pool calls it).
  // InvalidArgument (bad parallel/deadline/boards), Conflict (a board is in a running rollout, or
  // still fetching or installing for any rollout), the store's errors (nothing was started).
  Result<Rollout> Create(const AgentPackage& package, std::vector<std::string> boards, size_t parallel,
                         int64_t deadline_seconds, const std::string& created_by);
  Result<Rollout> Get(const std::string& id) const;  // NotFound
  std::vector<Rollout> List() const;                 // newest first
  // What the board's agent last reported; nullopt when it has not since this conductor started.
  std::optional<AgentVersions> VersionsOf(const std::string& board_id) const;

  // Fails the boards that stayed silent too long (the tick calls it; tests too).
  void CheckSilence();

 private:
  struct Action {
    std::string board_id;
    contract::update::UpdateRequest request;
  };
  // Asks the next pending boards while fewer than `parallel` are in flight; ends the rollout
  // when nothing is left. Returns the calls to make. Under mu_ (or on a rollout not yet shared).
  std::vector<Action> AdvanceLocked(Rollout& rollout);
  void Run(std::vector<Action> actions);
  // A board's new state (report, call error, silence). Returns the calls to make. Under mu_.
  std::vector<Action> SetStateLocked(Rollout& rollout, BoardUpdate& board, contract::update::UpdateState state,
                                     const std::string& message);
  void OnReport(const std::string& board_id, const contract::update::UpdateReport& report);
  void OnFetch(const std::string& board_id, const contract::update::FetchRequest& request,
               router::BoardGateway::Reply reply);
  void AskVersions(const std::string& board_id);
  // The rollout found running at start: see the file comment. Returns it changed.
  void Interrupt(Rollout& rollout);
  // Forgets the oldest finished rollouts beyond max_finished_rollouts (the store prunes alike).
  // Under mu_.
  void PruneLocked();
  // Queues the rollout's current state for the store; one write task at a time runs on the
  // blocking pool and drains the queue, so writes never reorder. Under mu_.
  void PersistLocked(const Rollout& rollout);
  void Flush();
  void Tick();
  int64_t Now() const;

  router::BoardGateway& gateway_;
  AgentPackageStore& packages_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  RolloutManagerOptions options_;
  boost::asio::steady_timer timer_;
  RolloutStore& store_;
  std::mutex create_mu_;  // one Create at a time: its conflict check holds until it is stored
  mutable std::mutex mu_;
  std::map<std::string, Rollout> rollouts_;             // GUARDED_BY(mu_)
  std::map<std::string, AgentVersions> versions_;       // GUARDED_BY(mu_)
  bool stopped_ = false;                                // GUARDED_BY(mu_)
  std::map<std::string, Rollout> unwritten_;            // GUARDED_BY(mu_): newest state per rollout
  bool writing_ = false;                                // GUARDED_BY(mu_): a Flush is queued or running
  // Liveness token for gateway callbacks (docs/ARCHITECTURE.md, "Lifetime").
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::conductor::agents
