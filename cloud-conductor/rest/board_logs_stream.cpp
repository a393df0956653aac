// GET /v1/boards/{id}/logs?follow=true (issue 16): the board's new log lines as Server-Sent
// Events, one `data:` message per sys.log batch ({lines, firstSeq, skipped, cut}, bounded as
// contract::sys says), for as long as the client stays; `event: end` when the board goes
// offline, the conductor stops or the caller's token is revoked or expires. The follow itself is
// shared by all clients of a board (conductor::agents::LogFollow, which also caps a user's
// follows: 429 past it); the stream is an SseStream, as the GPIO event stream.
#include <memory>

#include "cloud-conductor/agents/log_follow.hpp"
#include "cloud-conductor/rest/board_admin.hpp"
#include "cloud-conductor/rest/json_body.hpp"
#include "cloud-conductor/rest/resources.hpp"
#include "cloud-conductor/rest/sse_stream.hpp"
#include "common/log/log.hpp"

namespace ew::rest {

namespace {

const ew::log::Logger Log{"rest"};
using conductor::agents::LogFollow;
using nlohmann::json;

// Batches a slow client may fall behind before it is dropped (a batch is at most 200 lines and
// contract::sys::kMaxLogAnswerBytes).
constexpr size_t kMaxStreamBacklog = 256;

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
  auto stream = std::make_shared<SseStream>(board_id, "log stream", kMaxStreamBacklog);
  if (deps.revocations) SseStream::EndOnRevocation(stream, *deps.revocations, exchange.principal);
  std::weak_ptr<SseStream> weak = stream;
  conductor::agents::LogListener listener;
  listener.on_batch = [weak](const json& batch) {
    if (auto s = weak.lock()) s->Data(batch);
  };
  listener.on_end = [weak](const std::string& reason) {
    if (auto s = weak.lock()) s->End(reason);
  };
  Log()->info("board={} log followed by {}", board_id, exchange.principal.name);
  const std::string user_id = exchange.principal.user_id;
  auto shared = std::make_shared<Exchange>(std::move(exchange));
  // A user's follows are capped (LogFollowOptions::max_follows_per_user): past it, 429.
  deps.log_follow->Follow(board_id, user_id, std::move(listener),
                          [shared, stream](Result<std::shared_ptr<LogFollow::Follower>> follower) {
                            if (!follower) return shared->Reply(ErrorResponse(follower.error()));
                            stream->Hold([follower = *follower] { follower->Close(); });  // the last one unfollows
                            shared->Reply(SseStream::Response(stream));
                          });
}

}  // namespace ew::rest
