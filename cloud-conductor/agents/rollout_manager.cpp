#include "cloud-conductor/agents/rollout_manager.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include <boost/asio/post.hpp>

#include "common/contract/sys.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"

namespace ew::conductor::agents {

namespace upd = contract::update;
using upd::UpdateState;

namespace {
const ew::log::Logger Log{"agents"};
constexpr size_t kMaxParallel = 100;
}  // namespace

RolloutManager::RolloutManager(router::BoardGateway& gateway, AgentPackageStore& packages, RolloutStore& store,
                               boost::asio::thread_pool& blocking, const Clock& clock,
                               boost::asio::any_io_executor executor, RolloutManagerOptions options)
    : gateway_(gateway), packages_(packages), blocking_(blocking), clock_(clock), options_(options),
      timer_(executor), store_(store) {}

RolloutManager::~RolloutManager() {
  alive_.reset();
  timer_.cancel();
}

int64_t RolloutManager::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

Result<void> RolloutManager::Start() {
  EW_TRY(std::vector<Rollout> stored, store_.List());
  std::vector<Rollout> interrupted;
  {
    std::lock_guard lock(mu_);
    for (auto& rollout : stored) {
      if (rollout.state == RolloutState::kRunning) {
        Interrupt(rollout);
        interrupted.push_back(rollout);
      }
      rollouts_[rollout.id] = std::move(rollout);
    }
    PruneLocked();
  }
  // Before the io loop runs: written here, on the caller's thread.
  for (const auto& rollout : interrupted) EW_TRY_VOID(store_.Put(rollout));
  EW_TRY_VOID(store_.PruneFinished(options_.max_finished_rollouts));
  if (!stored.empty()) Log()->info("agent updates: {} rollout(s) read from the store", stored.size());
  std::weak_ptr<bool> alive = alive_;
  gateway_.ServeConductorProcedure(upd::kFetch.uri, [this, alive](const std::string& board_id, wamp::Payload payload,
                                                                  router::BoardGateway::Reply reply) {
    if (alive.expired()) return reply(Unavailable("the conductor is stopping"));
    auto request = upd::FetchRequest::Parse(payload);
    if (!request) return reply(tl::unexpected(request.error()));
    OnFetch(board_id, *request, std::move(reply));
  });
  gateway_.ServeConductorProcedure(upd::kReport.uri, [this, alive](const std::string& board_id, wamp::Payload payload,
                                                                   router::BoardGateway::Reply reply) {
    if (alive.expired()) return reply(Unavailable("the conductor is stopping"));
    auto report = upd::UpdateReport::Parse(payload);
    if (!report) return reply(tl::unexpected(report.error()));
    OnReport(board_id, *report);
    reply(upd::ReportReply{}.ToPayload());
  });
  gateway_.OnBoardRegistered([this, alive](const std::string& board_id, const std::string& suffix) {
    if (!alive.expired() && suffix == contract::sys::kInfo.suffix) AskVersions(board_id);
  });
  Tick();
  return Ok();
}

void RolloutManager::Interrupt(Rollout& rollout) {
  size_t fetching = 0, installing = 0, pending = 0;
  const int64_t now = Now();
  for (auto& b : rollout.boards) {
    switch (b.state) {
      case UpdateState::kFetching:
        // The package came over the old conductor's session, which is gone: the board's fetch
        // failed with it, nothing was staged, and it reported that to nobody. (Only a board that
        // staged the package just as the conductor died goes on to install it; its later report
        // then finds this board final and is dropped.)
        ++fetching;
        b.state = UpdateState::kFailed;
        b.message =
            "interrupted: the conductor restarted while the board fetched the package (the download ended with its "
            "session)";
        b.updated_at = now;
        break;
      case UpdateState::kInstalling: ++installing; break;  // the helper goes on; the board reports on rejoining
      case UpdateState::kPending: ++pending; break;
      default: break;
    }
  }
  rollout.state = RolloutState::kInterrupted;
  rollout.stop_reason = fmt::format(
      "the conductor restarted during the rollout: {} board(s) were installing (each reports how it ended when it "
      "rejoins), {} were fetching (failed), {} were not asked yet (left pending: run the update again for them)",
      installing, fetching, pending);
  Log()->warn("agent update {}: interrupted, {}", rollout.id, rollout.stop_reason);
}

void RolloutManager::PruneLocked() {
  std::vector<const Rollout*> finished;
  for (const auto& [id, rollout] : rollouts_) {
    if (rollout.state != RolloutState::kRunning) finished.push_back(&rollout);
  }
  if (finished.size() <= options_.max_finished_rollouts) return;
  // Newest first, as RolloutStore::PruneFinished orders them.
  std::sort(finished.begin(), finished.end(), [](const Rollout* a, const Rollout* b) {
    return a->created_at != b->created_at ? a->created_at > b->created_at : a->id > b->id;
  });
  std::vector<std::string> forget;
  for (size_t i = options_.max_finished_rollouts; i < finished.size(); ++i) forget.push_back(finished[i]->id);
  for (const auto& id : forget) rollouts_.erase(id);
}

void RolloutManager::PersistLocked(const Rollout& rollout) {
  unwritten_[rollout.id] = rollout;
  if (writing_) return;
  writing_ = true;
  boost::asio::post(blocking_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.expired()) Flush();
  });
}

void RolloutManager::Flush() {
  while (true) {
    std::map<std::string, Rollout> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(unwritten_);
      if (batch.empty()) {
        writing_ = false;
        return;
      }
    }
    // A failed write is logged; the rollout's next change writes it whole again.
    for (const auto& [id, rollout] : batch) {
      if (auto put = store_.Put(rollout); !put)
        Log()->error("agent update {}: cannot store its state: {}", id, put.error().message);
    }
    if (auto pruned = store_.PruneFinished(options_.max_finished_rollouts); !pruned)
      Log()->error("agent updates: cannot prune old rollouts: {}", pruned.error().message);
  }
}

void RolloutManager::Stop() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  timer_.cancel();
}

void RolloutManager::Tick() {
  timer_.expires_after(options_.tick);
  timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    CheckSilence();
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
    }
    Tick();
  });
}

void RolloutManager::AskVersions(const std::string& board_id) {
  gateway_.CallBoard(board_id, contract::sys::kInfo.suffix, {}, options_.call_timeout,
                     [this, alive = std::weak_ptr<bool>(alive_), board_id](Result<wamp::Payload> reply) {
                       if (alive.expired() || !reply) return;
                       auto info = contract::sys::SysInfo::Parse(*reply);
                       if (!info) return;
                       std::lock_guard lock(mu_);
                       versions_[board_id] = AgentVersions{info->agent_version, info->package_version};
                     });
}

std::optional<AgentVersions> RolloutManager::VersionsOf(const std::string& board_id) const {
  std::lock_guard lock(mu_);
  auto it = versions_.find(board_id);
  if (it == versions_.end()) return std::nullopt;
  return it->second;
}

Result<Rollout> RolloutManager::Create(const AgentPackage& package, std::vector<std::string> boards, size_t parallel,
                                       int64_t deadline_seconds, const std::string& created_by) {
  if (boards.empty()) return InvalidArgument("an update needs at least one board");
  if (boards.size() > options_.max_boards)
    return InvalidArgument("an update reaches at most " + std::to_string(options_.max_boards) + " boards");
  if (parallel < 1 || parallel > kMaxParallel)
    return InvalidArgument("parallel must be from 1 to " + std::to_string(kMaxParallel));
  if (deadline_seconds < upd::kMinDeadlineSeconds || deadline_seconds > upd::kMaxDeadlineSeconds)
    return InvalidArgument("deadlineSeconds must be from " + std::to_string(upd::kMinDeadlineSeconds) + " to " +
                           std::to_string(upd::kMaxDeadlineSeconds));
  std::set<std::string> distinct(boards.begin(), boards.end());
  if (distinct.size() != boards.size()) return InvalidArgument("a board is named twice");
  // Creates are serialised so that no other can claim these boards between the check below and
  // the insert after the write.
  std::lock_guard creating(create_mu_);
  Rollout rollout;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return Unavailable("the conductor is stopping");
    for (const auto& [id, other] : rollouts_) {
      for (const auto& b : other.boards) {
        if (!distinct.count(b.board_id)) continue;
        const bool in_flight = b.state == UpdateState::kFetching || b.state == UpdateState::kInstalling;
        const bool waiting = other.state == RolloutState::kRunning && b.state == UpdateState::kPending;
        if (in_flight || waiting)
          return Conflict("board " + b.board_id + " is in update " + id + " (" + std::string(Name(other.state)) +
                          "), still " + std::string(upd::Name(b.state)));
      }
    }
  }
  rollout.id = ids::NewId("upd");
  rollout.package = package;
  rollout.created_by = created_by;
  rollout.created_at = Now();
  rollout.parallel = parallel;
  rollout.deadline_seconds = deadline_seconds;
  for (auto& id : boards) rollout.boards.push_back(BoardUpdate{std::move(id)});
  // The first boards are marked asked, and the whole is stored, before any board hears of it: a
  // rollout the conductor could not record is not started, and a conductor that dies right after
  // knows which boards it asked. (The rollout is not shared yet: no lock needed to advance it.)
  std::vector<Action> actions = AdvanceLocked(rollout);
  EW_TRY_VOID(store_.Put(rollout));
  {
    std::lock_guard lock(mu_);
    if (stopped_) return Unavailable("the conductor is stopping");
    Log()->warn("agent update {}: edgewire-agent {} to {} board(s), {} at a time, deadline {} s, by {}", rollout.id,
                package.version, rollout.boards.size(), parallel, deadline_seconds, created_by);
    rollouts_[rollout.id] = rollout;
    PruneLocked();
  }
  Run(std::move(actions));
  return rollout;
}

std::vector<RolloutManager::Action> RolloutManager::AdvanceLocked(Rollout& rollout) {
  std::vector<Action> actions;
  if (rollout.state != RolloutState::kRunning) return actions;
  size_t in_flight = 0;
  for (const auto& b : rollout.boards) {
    if (b.state == UpdateState::kFetching || b.state == UpdateState::kInstalling) ++in_flight;
  }
  for (auto& b : rollout.boards) {
    if (in_flight >= rollout.parallel) break;
    if (b.state != UpdateState::kPending) continue;
    b.state = UpdateState::kFetching;
    b.started_at = b.updated_at = Now();
    ++in_flight;
    upd::UpdateRequest request;
    request.update_id = rollout.id;
    request.sha256 = rollout.package.sha256;
    request.size = rollout.package.size;
    request.version = rollout.package.version;
    request.deadline_seconds = rollout.deadline_seconds;
    request.signature = rollout.package.signature;  // the board's helper verifies it
    actions.push_back({b.board_id, std::move(request)});
  }
  if (in_flight == 0) {
    rollout.state = RolloutState::kDone;
    Log()->warn("agent update {}: done, every board online", rollout.id);
  }
  return actions;
}

void RolloutManager::Run(std::vector<Action> actions) {
  for (auto& action : actions) {
    Log()->info("agent update {}: asking board={} to install edgewire-agent {}", action.request.update_id,
                action.board_id, action.request.version);
    gateway_.CallBoard(
        action.board_id, upd::kUpdate.suffix, action.request.ToPayload(), options_.call_timeout,
        [this, alive = std::weak_ptr<bool>(alive_), board_id = action.board_id,
         update_id = action.request.update_id](Result<wamp::Payload> reply) {
          if (alive.expired()) return;
          if (reply) return;  // the board reports from here on
          upd::UpdateReport failed;
          failed.update_id = update_id;
          failed.state = UpdateState::kFailed;
          failed.message = "sys.update: " + reply.error().message;
          OnReport(board_id, failed);
        });
  }
}

std::vector<RolloutManager::Action> RolloutManager::SetStateLocked(Rollout& rollout, BoardUpdate& board,
                                                                   UpdateState state, const std::string& message) {
  if (upd::IsFinal(board.state)) return {};  // a late or repeated report
  board.state = state;
  board.message = message;
  board.updated_at = Now();
  Log()->log(state == UpdateState::kFailed || state == UpdateState::kRolledBack ? spdlog::level::err
                                                                                  : spdlog::level::info,
             "agent update {}: board={} {}{}", rollout.id, board.board_id, upd::Name(state),
             message.empty() ? "" : ": " + message);
  if (state == UpdateState::kFailed || state == UpdateState::kRolledBack) {
    if (rollout.state == RolloutState::kRunning) {
      rollout.state = RolloutState::kStopped;
      rollout.stop_reason = "board " + board.board_id + " " + std::string(upd::Name(state)) +
                            (message.empty() ? "" : ": " + message);
      Log()->error("agent update {}: stopped, {}", rollout.id, rollout.stop_reason);
    }
    PersistLocked(rollout);
    return {};
  }
  std::vector<Action> actions;
  if (state == UpdateState::kOnline) actions = AdvanceLocked(rollout);
  PersistLocked(rollout);
  return actions;
}

void RolloutManager::OnReport(const std::string& board_id, const upd::UpdateReport& report) {
  std::vector<Action> actions;
  {
    std::lock_guard lock(mu_);
    if (!report.agent_version.empty() || !report.package_version.empty())
      versions_[board_id] = AgentVersions{report.agent_version, report.package_version};
    auto it = rollouts_.find(report.update_id);
    if (it == rollouts_.end()) return;  // an update of an earlier conductor, or none of ours
    for (auto& b : it->second.boards) {
      if (b.board_id != board_id) continue;
      if (b.state == UpdateState::kPending) return;  // never asked: not this board's to report
      if (!report.agent_version.empty()) b.agent_version = report.agent_version;
      if (!report.package_version.empty()) b.package_version = report.package_version;
      if (report.state == UpdateState::kPending || report.state == b.state) return;
      actions = SetStateLocked(it->second, b, report.state, report.message);
    }
  }
  Run(std::move(actions));
}

void RolloutManager::OnFetch(const std::string& board_id, const upd::FetchRequest& request,
                             router::BoardGateway::Reply reply) {
  std::string sha256;
  {
    std::lock_guard lock(mu_);
    auto it = rollouts_.find(request.update_id);
    bool allowed = false;
    if (it != rollouts_.end()) {
      for (const auto& b : it->second.boards) {
        if (b.board_id == board_id && b.state == UpdateState::kFetching) allowed = true;
      }
    }
    // The same answer whether the update does not exist or is not this board's: a board learns
    // nothing about other boards' updates.
    if (!allowed) return reply(PermissionDenied("update " + request.update_id + " is not being fetched by this board"));
    sha256 = it->second.package.sha256;
  }
  boost::asio::post(blocking_, [this, alive = std::weak_ptr<bool>(alive_), sha256, request, reply = std::move(reply)] {
    if (alive.expired()) return reply(Unavailable("the conductor is stopping"));
    auto chunk = packages_.ReadChunk(sha256, request.offset, request.length);
    if (!chunk) return reply(tl::unexpected(chunk.error()));
    reply(chunk->ToPayload());
  });
}

void RolloutManager::CheckSilence() {
  std::vector<Action> actions;
  {
    std::lock_guard lock(mu_);
    const int64_t now = Now();
    for (auto& [id, rollout] : rollouts_) {
      for (auto& b : rollout.boards) {
        if (b.state != UpdateState::kFetching && b.state != UpdateState::kInstalling) continue;
        if (now - b.started_at <= rollout.deadline_seconds + options_.silence_grace.count()) continue;
        auto more = SetStateLocked(rollout, b, UpdateState::kFailed,
                                   "no word from the board for " + std::to_string(now - b.started_at) + " s");
        actions.insert(actions.end(), more.begin(), more.end());
      }
    }
  }
  Run(std::move(actions));
}

Result<Rollout> RolloutManager::Get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = rollouts_.find(id);
  if (it == rollouts_.end()) return NotFound("no agent update " + id.substr(0, 64));
  return it->second;
}

std::vector<Rollout> RolloutManager::List() const {
  std::lock_guard lock(mu_);
  std::vector<Rollout> out;
  for (const auto& [id, rollout] : rollouts_) out.push_back(rollout);
  std::sort(out.begin(), out.end(), [](const Rollout& a, const Rollout& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id > b.id;
  });
  return out;
}

}  // namespace ew::conductor::agents
