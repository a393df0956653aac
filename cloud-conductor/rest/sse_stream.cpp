#include "cloud-conductor/rest/sse_stream.hpp"

#include "common/log/log.hpp"

namespace ew::rest {

namespace {

const ew::log::Logger Log{"rest"};

// An SSE comment after this long without a message keeps proxies from closing the stream.
constexpr std::chrono::seconds kKeepAliveInterval{15};
constexpr char kKeepAlive[] = ": keepalive\n\n";

std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

SseStream::SseStream(std::string board_id, std::string what, size_t max_pending)
    : board_id_(std::move(board_id)), what_(std::move(what)), max_pending_(max_pending) {}

SseStream::~SseStream() {
  if (revocations_) revocations_->Unsubscribe(subscription_);
}

void SseStream::EndOnRevocation(const std::shared_ptr<SseStream>& stream, auth::RevocationHub& hub,
                                const auth::Principal& who) {
  std::weak_ptr<SseStream> weak = stream;
  stream->revocations_ = &hub;
  stream->subscription_ = hub.Subscribe([weak, token = who.token_id, user = who.user_id](const auth::Revocation& r) {
    if (!r.Covers(token, user)) return;
    if (auto s = weak.lock()) {
      Log()->info("board={} {} ended: {}", s->board_id_, s->what_, r.message);
      s->End(r.message);
    }
  });
  hub.ExpireAt(who.token_id, who.token_expires_at);
}

void SseStream::Hold(std::function<void()> release) {
  {
    std::lock_guard lock(mu_);
    if (!closed_ && !ended_) {
      release_ = std::move(release);
      return;
    }
  }
  release();  // the stream is over already: nothing to feed
}

void SseStream::Data(const nlohmann::json& event) { Send("data: " + Dump(event) + "\n\n"); }

void SseStream::End(const std::string& reason) {
  Send("event: end\ndata: " + Dump(nlohmann::json{{"reason", reason}}) + "\n\n");
  std::function<void()> release;
  {
    std::lock_guard lock(mu_);
    ended_ = true;
    if (writer_) writer_->End();
    release = TakeRelease();
  }
  if (release) release();
}

void SseStream::OnOpen(std::shared_ptr<server::StreamWriter> writer) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  writer_ = std::move(writer);
  for (auto& chunk : pending_) writer_->Write(std::move(chunk));
  pending_.clear();
  if (ended_) writer_->End();
}

void SseStream::OnClose(const std::string& reason) {
  std::function<void()> release;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    writer_.reset();
    pending_.clear();
    release = TakeRelease();
  }
  Log()->debug("board={} {} closed: {}", board_id_, what_, reason);
  // A closed stream stops listening now, not when its last holder lets go: a revocation being
  // delivered on another thread may still hold it for a moment.
  if (revocations_) revocations_->Unsubscribe(subscription_);
  if (release) release();
}

server::HttpResponse SseStream::Response(std::shared_ptr<SseStream> stream) {
  server::HttpResponse response;
  response.content_type = "text/event-stream";
  response.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
  response.stream_options.max_backlog = stream->max_pending_;
  response.stream_options.idle_interval = kKeepAliveInterval;
  response.stream_options.idle_chunk = kKeepAlive;
  response.stream = std::move(stream);
  return response;
}

void SseStream::Send(std::string chunk) {
  std::lock_guard lock(mu_);
  if (closed_ || ended_) return;
  if (writer_) {
    writer_->Write(std::move(chunk));  // false: the server drops the client and OnClose follows
  } else if (pending_.size() < max_pending_) {
    pending_.push_back(std::move(chunk));
  }
}

std::function<void()> SseStream::TakeRelease() {
  std::function<void()> release = std::move(release_);
  release_ = nullptr;
  return release;
}

}  // namespace ew::rest
