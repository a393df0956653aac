#include "cloud-conductor/agents/log_follow.hpp"

#include <algorithm>

#include "common/contract/sys.hpp"
#include "common/log/log.hpp"

namespace ew::conductor::agents {

namespace sys = contract::sys;
using nlohmann::json;

namespace {
const ew::log::Logger Log{"agents"};
}  // namespace

struct LogFollow::Shared : std::enable_shared_from_this<LogFollow::Shared> {
  router::BoardGateway* gateway = nullptr;
  LogFollowOptions options;
  mutable std::mutex mu;
  bool stopping = false;  // GUARDED_BY(mu)
  struct Board {
    std::vector<std::shared_ptr<Follower>> followers;
    bool confirmed = false;  // the board answered sys.logs.follow
    std::vector<std::pair<std::shared_ptr<Follower>, std::function<void(Result<std::shared_ptr<Follower>>)>>> waiting;
  };
  std::map<std::string, Board> boards;  // GUARDED_BY(mu)
  std::map<std::string, size_t> follows_by_user;  // GUARDED_BY(mu): open followers per user

  // Marks `follower` closed and takes it off its user's count. Under mu.
  void CloseLocked(Follower& follower) {
    if (follower.closed_) return;
    follower.closed_ = true;
    auto it = follows_by_user.find(follower.user_id_);
    if (it != follows_by_user.end() && --it->second == 0) follows_by_user.erase(it);
  }

  void CallFollow(const std::string& board_id) {
    gateway->CallBoard(board_id, sys::kLogsFollow.suffix, {}, options.call_timeout,
                       [weak = weak_from_this(), board_id](Result<wamp::Payload> reply) {
                         if (auto self = weak.lock()) self->Followed(board_id, reply);
                       });
  }

  // The board's answer to the first sys.logs.follow of a board (router strand).
  void Followed(const std::string& board_id, const Result<wamp::Payload>& reply) {
    decltype(Board::waiting) waiting;
    {
      std::lock_guard lock(mu);
      auto it = boards.find(board_id);
      if (it == boards.end()) return;
      waiting = std::move(it->second.waiting);
      it->second.waiting.clear();
      if (reply) {
        it->second.confirmed = true;
      } else {
        for (auto& [follower, done] : waiting) {
          CloseLocked(*follower);
          auto& list = it->second.followers;
          list.erase(std::remove(list.begin(), list.end(), follower), list.end());
        }
        if (it->second.followers.empty()) boards.erase(it);
      }
    }
    for (auto& [follower, done] : waiting) {
      if (reply) {
        done(follower);
      } else {
        done(tl::unexpected(reply.error()));
      }
    }
  }

  void Remove(const std::shared_ptr<Follower>& follower) {
    bool unfollow = false;
    {
      std::lock_guard lock(mu);
      if (follower->closed_) return;
      CloseLocked(*follower);
      auto it = boards.find(follower->board_id_);
      if (it == boards.end()) return;
      auto& list = it->second.followers;
      list.erase(std::remove(list.begin(), list.end(), follower), list.end());
      if (list.empty() && it->second.waiting.empty()) {
        unfollow = it->second.confirmed;
        boards.erase(it);
      }
    }
    if (unfollow) {
      Log()->debug("board={} log no longer followed", follower->board_id_);
      gateway->CallBoard(follower->board_id_, sys::kLogsUnfollow.suffix, {}, options.call_timeout,
                         [](Result<wamp::Payload>) {});
    }
  }

  void EndBoard(const std::string& board_id, const std::string& reason) {
    std::vector<std::shared_ptr<Follower>> ended;
    decltype(Board::waiting) waiting;
    {
      std::lock_guard lock(mu);
      auto it = boards.find(board_id);
      if (it == boards.end()) return;
      ended = std::move(it->second.followers);
      waiting = std::move(it->second.waiting);
      boards.erase(it);
      for (auto& f : ended) CloseLocked(*f);
      for (auto& [follower, done] : waiting) CloseLocked(*follower);
    }
    for (auto& f : ended) {
      if (f->listener_.on_end) f->listener_.on_end(reason);
    }
    for (auto& [follower, done] : waiting) done(Unavailable(reason));
  }
};

LogFollow::LogFollow(router::BoardGateway& gateway, boost::asio::any_io_executor executor, LogFollowOptions options)
    : shared_(std::make_shared<Shared>()), gateway_(gateway), options_(options), renew_timer_(executor) {
  shared_->gateway = &gateway;
  shared_->options = options;
}

LogFollow::~LogFollow() { renew_timer_.cancel(); }

void LogFollow::Start() {
  std::weak_ptr<Shared> weak = shared_;
  gateway_.OnBoardPublication([weak](const std::string& board_id, const std::string& suffix,
                                     const wamp::Payload& payload) {
    if (suffix != sys::kLogTopic.suffix) return;
    auto shared = weak.lock();
    if (!shared) return;
    std::vector<std::shared_ptr<Follower>> followers;
    {
      std::lock_guard lock(shared->mu);
      auto it = shared->boards.find(board_id);
      if (it == shared->boards.end()) return;
      followers = it->second.followers;
    }
    auto batch = sys::LogBatch::Parse(payload);
    if (!batch) {
      Log()->warn("board={} sent a bad sys.log batch: {}", board_id, batch.error().message);
      return;
    }
    // An agent older than the bounds may send lines of any length: cut and count them here, so
    // that what reaches a client is bounded whichever agent sent it. Lines past the batch's
    // bytes are dropped and counted as skipped (this agent will not send them again).
    const sys::FittedLogLines fitted = sys::FitLogLines(batch->lines, sys::KeepLines::kOldest);
    const json event = {{"lines", batch->lines},
                        {"firstSeq", batch->first_seq},
                        {"skipped", batch->skipped + static_cast<int64_t>(fitted.dropped)},
                        {"cut", batch->cut + static_cast<int64_t>(fitted.cut)}};
    for (auto& f : followers) {
      if (f->listener_.on_batch) f->listener_.on_batch(event);
    }
  });
  gateway_.OnBoardSessionEnded([weak](const std::string& board_id, uint64_t) {
    if (auto shared = weak.lock()) shared->EndBoard(board_id, "board " + board_id + " went offline");
  });
  Renew();
}

void LogFollow::Renew() {
  renew_timer_.expires_after(options_.renew_interval);
  renew_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    std::vector<std::string> boards;
    {
      std::lock_guard lock(shared_->mu);
      if (shared_->stopping) return;
      for (const auto& [id, board] : shared_->boards) {
        if (board.confirmed) boards.push_back(id);
      }
    }
    for (const auto& id : boards) {
      gateway_.CallBoard(id, sys::kLogsFollow.suffix, {}, options_.call_timeout, [](Result<wamp::Payload>) {});
    }
    Renew();
  });
}

void LogFollow::Shutdown() {
  std::vector<std::string> boards;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
    for (const auto& [id, board] : shared_->boards) boards.push_back(id);
  }
  renew_timer_.cancel();
  for (const auto& id : boards) shared_->EndBoard(id, "the conductor is stopping");
}

void LogFollow::Follow(const std::string& board_id, const std::string& user_id, LogListener listener,
                       std::function<void(Result<std::shared_ptr<Follower>>)> done) {
  auto follower = std::make_shared<Follower>();
  follower->shared_ = shared_;
  follower->board_id_ = board_id;
  follower->user_id_ = user_id;
  follower->listener_ = std::move(listener);
  bool call = false;
  bool confirmed = false;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->stopping) return done(Unavailable("the conductor is stopping"));
    size_t& held = shared_->follows_by_user[user_id];
    if (options_.max_follows_per_user > 0 && held >= options_.max_follows_per_user) {
      if (held == 0) shared_->follows_by_user.erase(user_id);
      return done(ResourceExhausted("this user follows " + std::to_string(held) +
                                    " board logs already, the most at once (close one first)"));
    }
    ++held;
    auto& board = shared_->boards[board_id];
    board.followers.push_back(follower);
    confirmed = board.confirmed;
    if (!confirmed) {
      call = board.waiting.empty();
      board.waiting.emplace_back(follower, std::move(done));
    }
  }
  if (!confirmed) {
    if (call) shared_->CallFollow(board_id);
    return;
  }
  done(follower);  // the board follows already
}

size_t LogFollow::FollowsOf(const std::string& user_id) const {
  std::lock_guard lock(shared_->mu);
  auto it = shared_->follows_by_user.find(user_id);
  return it == shared_->follows_by_user.end() ? 0 : it->second;
}

size_t LogFollow::FollowerCount() const {
  std::lock_guard lock(shared_->mu);
  size_t n = 0;
  for (const auto& [id, board] : shared_->boards) n += board.followers.size();
  return n;
}

void LogFollow::Follower::Close() {
  auto shared = shared_.lock();
  if (!shared) return;
  // The follower is held by the board's list while open; find our own shared_ptr there.
  std::shared_ptr<Follower> self;
  {
    std::lock_guard lock(shared->mu);
    auto it = shared->boards.find(board_id_);
    if (it == shared->boards.end()) return;
    for (auto& f : it->second.followers) {
      if (f.get() == this) self = f;
    }
  }
  if (self) shared->Remove(self);
}

}  // namespace ew::conductor::agents
