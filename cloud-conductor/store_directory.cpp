#include "cloud-conductor/store_directory.hpp"

#include <boost/asio/post.hpp>

#include "common/log/log.hpp"

namespace ew::conductor {

const ew::log::Logger Log{"store"};

StoreDirectory::StoreDirectory(registry::Store& store, auth::Authenticator& auth, const Clock& clock,
                               boost::asio::thread_pool& blocking, boost::asio::any_io_executor router_executor,
                               auth::RevocationHub* revocations)
    : store_(store),
      auth_(auth),
      clock_(clock),
      blocking_(blocking),
      router_executor_(std::move(router_executor)),
      revocations_(revocations) {}

template <typename T>
void StoreDirectory::Run(std::function<Result<T>()> work, std::function<void(Result<T>)> done) {
  boost::asio::post(blocking_, [work = std::move(work), done = std::move(done), exec = router_executor_]() mutable {
    auto result = std::make_shared<Result<T>>(work());
    boost::asio::post(exec, [done = std::move(done), result]() mutable { done(std::move(*result)); });
  });
}

void StoreDirectory::LookupBoard(const std::string& board_id,
                                 std::function<void(Result<router::BoardIdentity>)> done) {
  Run<router::BoardIdentity>(
      [this, board_id]() -> Result<router::BoardIdentity> {
        EW_TRY(auto credential, store_.GetBoardCredential(board_id));
        EW_TRY(auto board, store_.GetBoard(board_id));
        router::BoardIdentity identity;
        identity.credential = std::move(credential);
        identity.project_id = board.project_id();
        return identity;
      },
      std::move(done));
}

void StoreDirectory::VerifyToken(const std::string& token, std::function<void(Result<auth::Principal>)> done) {
  Run<auth::Principal>(
      [this, token] {
        auto who = auth_.VerifyToken(token);
        if (who && revocations_) revocations_->ExpireAt(who->token_id, who->token_expires_at);
        return who;
      },
      std::move(done));
}

void StoreDirectory::BoardProject(const std::string& board_id, std::function<void(Result<std::string>)> done) {
  Run<std::string>(
      [this, board_id]() -> Result<std::string> {
        EW_TRY(auto board, store_.GetBoard(board_id));
        return board.project_id();
      },
      std::move(done));
}

void StoreDirectory::BoardSeen(const std::string& board_id) {
  {
    std::lock_guard<std::mutex> lock(seen_mutex_);
    seen_.push_back(board_id);
    if (seen_.size() > 1) return;  // the queued flush takes this one too
  }
  boost::asio::post(blocking_, [this] {
    std::vector<std::string> boards;
    {
      std::lock_guard<std::mutex> lock(seen_mutex_);
      boards.swap(seen_);
    }
    auto result = store_.TouchBoards(boards, UnixSeconds(clock_.Now()));
    if (!result) Log()->error("cannot record last_seen of {} board(s): {}", boards.size(), result.error().message);
  });
}

}  // namespace ew::conductor
