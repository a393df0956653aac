// One client's Server-Sent Events stream, fed by something the conductor keeps for it while the
// client stays: a GPIO watch (gpio_resource.cpp, /gpio/events) or a board's log follow
// (board_logs_stream.cpp, /logs?follow=true). Both streams were near copies of each other; what
// differs is only what feeds them and what to let go when they end.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "cloud-conductor/auth/principal.hpp"
#include "cloud-conductor/auth/revocation_hub.hpp"
#include "cloud-conductor/server/http_types.hpp"

namespace ew::rest {

class SseStream final : public server::StreamHandler {
 public:
  // `what` names the stream in logs ("event stream", "log stream"). Messages that come before the
  // server opened the stream wait here, at most `max_pending` of them (then they are dropped);
  // the server's backlog for a slow client is the same number (Response).
  SseStream(std::string board_id, std::string what, size_t max_pending);
  ~SseStream() override;

  // Ends the stream (End) when a revocation covers the caller's token or user, also when the
  // token expires. Call once, first, before the stream is shared.
  static void EndOnRevocation(const std::shared_ptr<SseStream>& stream, auth::RevocationHub& hub,
                              const auth::Principal& who);

  // What feeds the stream: `release` runs once when the stream ends or the client goes (unwatch,
  // unfollow), at once when that happened already. Thread-safe; one holder per stream.
  void Hold(std::function<void()> release);

  // A `data:` message carrying `event` (invalid UTF-8 replaced). Dropped after the end. Thread-safe.
  void Data(const nlohmann::json& event);
  // An `event: end` message {reason}, then the body ends and what the stream holds is let go.
  // Later calls do nothing. Thread-safe.
  void End(const std::string& reason);

  // server::StreamHandler (the server's io thread).
  void OnOpen(std::shared_ptr<server::StreamWriter> writer) override;
  void OnClose(const std::string& reason) override;

  // The 200 text/event-stream response that streams `stream`: no caching, no proxy buffering,
  // a keep-alive comment after 15 s without a message.
  static server::HttpResponse Response(std::shared_ptr<SseStream> stream);

 private:
  void Send(std::string chunk);
  // Takes what the stream holds, for running outside the lock. Under mu_.
  std::function<void()> TakeRelease();

  const std::string board_id_;
  const std::string what_;
  const size_t max_pending_;
  auth::RevocationHub* revocations_ = nullptr;  // set once, before the stream is shared
  uint64_t subscription_ = 0;
  std::mutex mu_;
  std::shared_ptr<server::StreamWriter> writer_;  // GUARDED_BY(mu_), set by OnOpen
  std::deque<std::string> pending_;               // GUARDED_BY(mu_), before OnOpen
  std::function<void()> release_;                 // GUARDED_BY(mu_)
  bool ended_ = false;                            // GUARDED_BY(mu_): end sent or queued
  bool closed_ = false;                           // GUARDED_BY(mu_)
};

}  // namespace ew::rest
