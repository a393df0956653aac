// Agent updates over the air on the conductor's side (issue 16): rollouts of an uploaded agent
// package to boards, rolling N at a time, and what each board's agent says it runs.
//
// A rollout asks up to `parallel` boards at once to update (sys.update, update id = rollout id).
// Each board fetches the package over its own session (ew.conductor.update.fetch: only a board
// of a live rollout, while it is fetching), stages it for its root helper and reports
// (ew.conductor.update.report) installing, then online from the new agent, or rolled-back /
// failed. The next board starts when one comes online; the first board that fails or rolls back
// stops the rollout (the boards not yet asked stay pending). A board that says nothing for
// deadline + silence_grace is failed. Rollouts live in memory: a conductor restart forgets them
// (the boards still finish or roll back on their own, and report to nobody).
//
// Threading: gateway hooks run on the router's strand; REST calls come from the blocking pool;
// all state is behind one mutex and board calls are made outside it.
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
};

enum class RolloutState { kRunning, kDone, kStopped };
std::string_view Name(RolloutState state);  // "running", "done", "stopped"

struct BoardUpdate {
  std::string board_id;
  contract::update::UpdateState state = contract::update::UpdateState::kPending;
  std::string message;
  int64_t started_at = 0;  // unix seconds; 0 while pending
  int64_t updated_at = 0;
  std::string agent_version;    // as the board last reported
  std::string package_version;
};

struct Rollout {
  std::string id;
  AgentPackage package;
  std::string created_by;
  int64_t created_at = 0;
  size_t parallel = 1;
  int64_t deadline_seconds = 120;
  RolloutState state = RolloutState::kRunning;
  std::string stop_reason;
  std::vector<BoardUpdate> boards;
};

struct AgentVersions {
  std::string agent_version;
  std::string package_version;
};

class RolloutManager {
 public:
  // Everything outlives the manager.
  RolloutManager(router::BoardGateway& gateway, AgentPackageStore& packages, boost::asio::thread_pool& blocking,
                 const Clock& clock, boost::asio::any_io_executor executor, RolloutManagerOptions options = {});
  ~RolloutManager();

  // Serves ew.conductor.update.fetch / .report, asks every board that registers sys.info for its
  // versions, and checks silence every tick. Call once, before boards connect.
  void Start();
  void Stop();

  // Starts a rollout of `package` to `boards` (distinct ids, 1..max_boards, in this order).
  // InvalidArgument (bad parallel/deadline/boards), Conflict (a board is in a running rollout).
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
  // when nothing is left. Returns the calls to make. Under mu_.
  std::vector<Action> AdvanceLocked(Rollout& rollout);
  void Run(std::vector<Action> actions);
  // A board's new state (report, call error, silence). Returns the calls to make. Under mu_.
  std::vector<Action> SetStateLocked(Rollout& rollout, BoardUpdate& board, contract::update::UpdateState state,
                                     const std::string& message);
  void OnReport(const std::string& board_id, const contract::update::UpdateReport& report);
  void OnFetch(const std::string& board_id, const contract::update::FetchRequest& request,
               router::BoardGateway::Reply reply);
  void AskVersions(const std::string& board_id);
  void Tick();
  int64_t Now() const;

  router::BoardGateway& gateway_;
  AgentPackageStore& packages_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  RolloutManagerOptions options_;
  boost::asio::steady_timer timer_;
  mutable std::mutex mu_;
  std::map<std::string, Rollout> rollouts_;             // GUARDED_BY(mu_)
  std::map<std::string, AgentVersions> versions_;       // GUARDED_BY(mu_)
  bool stopped_ = false;                                // GUARDED_BY(mu_)
  // Liveness token for gateway callbacks (docs/ARCHITECTURE.md, "Lifetime").
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::conductor::agents
