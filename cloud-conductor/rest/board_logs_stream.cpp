// GET /v1/boards/{id}/logs?follow=true (issue 16): the board's new log lines as Server-Sent
// Events, one `data:` message per sys.log batch ({lines, firstSeq, skipped, cut}), for as long as
// the client stays; `event: end` when the board goes offline, the conductor stops or the
// caller's token is revoked or expires. The follow itself is shared by all clients of a board
// (conductor::agents::LogFollow); this file renders one client's stream.
#include <deque>
#include <memory>
#include <mutex>

#include "cloud-conductor/agents/log_follow.hpp"
#include "cloud-conductor/rest/board_admin.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "common/log/log.hpp"

namespace ew::rest {

namespace {

const ew::log::Logger Log{"rest"};
using conductor::agents::LogFollow;
using nlohmann::json;

constexpr std::chrono::seconds kKeepAliveInterval{15};
constexpr char kKeepAlive[] = ": keepalive\n\n";
// Batches a slow client may fall behind before it is dropped (a batch is at most 200 lines).
constexpr size_t kMaxStreamBacklog = 256;

class LogStream final : public server::StreamHandler {
 public:
  explicit LogStream(std::string board_id) : board_id_(std::move(board_id)) {}
  ~LogStream() override {
    if (revocations_) revocations_->Unsubscribe(subscription_);
  }

  static void EndOnRevocation(const std::shared_ptr<LogStream>& stream, auth::RevocationHub& hub,
                              const auth::Principal& who) {
    std::weak_ptr<LogStream> weak = stream;
    stream->revocations_ = &hub;
    stream->subscription_ = hub.Subscribe([weak, token = who.token_id, user = who.user_id](const auth::Revocation& r) {
      if (!r.Covers(token, user)) return;
      if (auto s = weak.lock()) s->Ended(r.message);
    });
    hub.ExpireAt(who.token_id, who.token_expires_at);
  }

  void SetFollower(std::shared_ptr<LogFollow::Follower> follower) {
    bool close_now = false;
    {
      std::lock_guard lock(mu_);
      if (closed_ || ended_) close_now = true;
      else follower_ = follower;
    }
    if (close_now) follower->Close();
  }

  void Batch(const json& batch) { Send("data: " + batch.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"); }

  void Ended(const std::string& reason) {
    Send("event: end\ndata: " + json{{"reason", reason}}.dump(-1, ' ', false, json::error_handler_t::replace) +
         "\n\n");
    std::shared_ptr<LogFollow::Follower> follower;
    {
      std::lock_guard lock(mu_);
      ended_ = true;
      if (writer_) writer_->End();
      follower = std::move(follower_);
    }
    if (follower) follower->Close();
  }

  void OnOpen(std::shared_ptr<server::StreamWriter> writer) override {
    std::lock_guard lock(mu_);
    if (closed_) return;
    writer_ = std::move(writer);
    for (auto& chunk : pending_) writer_->Write(std::move(chunk));
    pending_.clear();
    if (ended_) writer_->End();
  }

  void OnClose(const std::string& reason) override {
    std::shared_ptr<LogFollow::Follower> follower;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      writer_.reset();
      pending_.clear();
      follower = std::move(follower_);
    }
    Log()->debug("board={} log stream closed: {}", board_id_, reason);
    if (revocations_) revocations_->Unsubscribe(subscription_);
    if (follower) follower->Close();  // the last follower unfollows the board
  }

 private:
  void Send(std::string chunk) {
    std::lock_guard lock(mu_);
    if (closed_ || ended_) return;
    if (writer_) {
      writer_->Write(std::move(chunk));
    } else if (pending_.size() < kMaxStreamBacklog) {
      pending_.push_back(std::move(chunk));
    }
  }

  const std::string board_id_;
  auth::RevocationHub* revocations_ = nullptr;
  uint64_t subscription_ = 0;
  std::mutex mu_;
  std::shared_ptr<server::StreamWriter> writer_;         // GUARDED_BY(mu_)
  std::deque<std::string> pending_;                      // GUARDED_BY(mu_)
  std::shared_ptr<LogFollow::Follower> follower_;        // GUARDED_BY(mu_)
  bool ended_ = false;                                   // GUARDED_BY(mu_)
  bool closed_ = false;                                  // GUARDED_BY(mu_)
};

}  // namespace

void FollowLogs(const RestDeps& deps, Exchange exchange) {
  for (const auto& [name, value] : exchange.request.query) {
    if (name != "follow")
      return exchange.Reply(ErrorResponse(Error{ErrorCode::kInvalidArgument, "unknown query parameter \"" + name.substr(0, 32) +
                                                          "\" with follow=true (it streams new lines only)"}));
  }
  if (!deps.log_follow) return exchange.Reply(ErrorResponse(Error{ErrorCode::kUnavailable, "log follow is not enabled on this conductor"}));
  auto board = AccessibleBoard(deps.store, exchange.principal, exchange.Param("id"));
  if (!board) return exchange.Reply(ErrorResponse(board.error()));
  const std::string board_id = board->id();
  auto stream = std::make_shared<LogStream>(board_id);
  if (deps.revocations) LogStream::EndOnRevocation(stream, *deps.revocations, exchange.principal);
  std::weak_ptr<LogStream> weak = stream;
  conductor::agents::LogListener listener;
  listener.on_batch = [weak](const json& batch) {
    if (auto s = weak.lock()) s->Batch(batch);
  };
  listener.on_end = [weak](const std::string& reason) {
    if (auto s = weak.lock()) s->Ended(reason);
  };
  Log()->info("board={} log followed by {}", board_id, exchange.principal.name);
  const std::string user_id = exchange.principal.user_id;
  auto shared = std::make_shared<Exchange>(std::move(exchange));
  // A user's follows are capped (LogFollowOptions::max_follows_per_user): past it, 429.
  deps.log_follow->Follow(board_id, user_id, std::move(listener),
                          [shared, stream](Result<std::shared_ptr<LogFollow::Follower>> follower) {
                            if (!follower) return shared->Reply(ErrorResponse(follower.error()));
                            stream->SetFollower(*follower);
                            server::HttpResponse response;
                            response.content_type = "text/event-stream";
                            response.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
                            response.stream = stream;
                            response.stream_options.max_backlog = kMaxStreamBacklog;
                            response.stream_options.idle_interval = kKeepAliveInterval;
                            response.stream_options.idle_chunk = kKeepAlive;
                            shared->Reply(std::move(response));
                          });
}

}  // namespace ew::rest
