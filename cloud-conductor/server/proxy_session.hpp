// An HTTP request proxied to a board (/v1/boards/{id}/proxy/{port}/...): once the conductor has
// checked the caller and the board dialled its tunnel WebSocket, the client's connection (its
// TLS included) is spliced with that WebSocket. The request's head goes first, rewritten (path
// without the prefix, Host 127.0.0.1:<port>, the caller's token removed, Connection: close unless
// it is a WebSocket upgrade), then every byte both ways: bodies, responses, upgraded WebSocket
// frames. Same wire format and back-pressure as common/net/ws_splice.hpp. The connection ends
// when the board's side ends (one request per connection): of a plain request only its body
// (Content-Length) is carried, nothing the client sends after it; an upgrade's bytes are carried
// once the board answered 101. Bytes neither way for ServerOptions::proxy_idle_timeout end it,
// and the conductor ends it when the token or browser session that opened it is revoked or
// expires (the board's WebSocket is closed: TunnelManager). The board's leg is pinged like a
// service tunnel's (ServerOptions::tunnel_ping_interval, common/net/leg_liveness.hpp): a long
// upgraded WebSocket to a board that vanished is cut. Internal to cloud-conductor/server.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/websocket.hpp>

#include "cloud-conductor/server/server_impl.hpp"
#include "common/net/leg_liveness.hpp"
#include "common/net/ws_splice.hpp"

namespace ew::server {

template <typename Stream>
class ProxySplice final : public std::enable_shared_from_this<ProxySplice<Stream>> {
 public:
  using WebSocket = beast::websocket::stream<Stream>;

  // `client_budget`: body bytes of the client still to carry after `initial`; none for an
  // upgrade (everything, once the board answered 101).
  ProxySplice(Stream&& stream, std::shared_ptr<WebSocket> ws, std::string initial,
              std::optional<uint64_t> client_budget, Ticket ticket, std::shared_ptr<ssl::context> tls,
              std::shared_ptr<Server::Impl> server)
      : stream_(std::move(stream)),
        ws_(std::move(ws)),
        initial_(std::move(initial)),
        ticket_(std::move(ticket)),
        tls_(std::move(tls)),
        server_(std::move(server)),
        ping_timer_(server_->io),
        idle_timer_(server_->io),
        client_budget_(client_budget) {}

  void Start() {
    namespace websocket = beast::websocket;
    beast::get_lowest_layer(stream_).expires_never();
    ws_->set_option(websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(),
                                                    false});
    // The board's agent sends at most a chunk (64 KiB) per message: nothing larger is buffered.
    ws_->read_message_max(ew::net::SpliceOptions{}.chunk_bytes);
    ws_->auto_fragment(false);
    ws_->control_callback([this](websocket::frame_type, beast::string_view) { liveness_.Heard(); });
    ws_->binary(true);
    writing_ = true;
    ws_->async_write(net::buffer(initial_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->Abort();
      std::string().swap(self->initial_);
      self->initial_written_ = true;
      if ((self->client_budget_ && *self->client_budget_ > 0) || self->switched_) self->ReadClient();
    });
    ReadBoard();
    SchedulePing();
    last_activity_ = std::chrono::steady_clock::now();
    ScheduleIdle();
  }

 private:
  void ScheduleIdle() {
    const auto idle = server_->options.proxy_idle_timeout;
    if (idle.count() <= 0 || finished_) return;
    idle_timer_.expires_at(last_activity_ + idle);
    idle_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      if (std::chrono::steady_clock::now() - self->last_activity_ >= self->server_->options.proxy_idle_timeout) {
        Log()->info("proxied connection idle for {} s; closing",
                    std::chrono::duration_cast<std::chrono::seconds>(self->server_->options.proxy_idle_timeout).count());
        return self->Abort();
      }
      self->ScheduleIdle();
    });
  }

  void SchedulePing() {
    const auto interval = server_->options.tunnel_ping_interval;
    if (interval.count() <= 0 || finished_) return;
    ping_timer_.expires_after(interval);
    ping_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      switch (self->liveness_.Tick(/*can_hear=*/self->reading_ && !self->writing_)) {
        case ew::net::LegLiveness::Action::kDead:
          Log()->info("proxied request: the board's tunnel answered no ping; closing");
          return self->Abort();
        case ew::net::LegLiveness::Action::kPing:
          self->ws_->async_ping({}, [self](beast::error_code) {});
          break;
        case ew::net::LegLiveness::Action::kNothing:
          break;
      }
      self->SchedulePing();
    });
  }

  // Only within the client's budget: the request's body, or an upgraded stream's bytes.
  void ReadClient() {
    if (up_.empty()) up_.resize(64 * 1024);
    size_t want = up_.size();
    if (client_budget_) want = static_cast<size_t>(std::min<uint64_t>(want, *client_budget_));
    if (want == 0) return;  // the body is all carried: nothing after it goes to the board
    stream_.async_read_some(net::buffer(up_.data(), want), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      if (self->finished_) return;
      if (ec) return self->SendFin();  // the client ended (EOF, close_notify or error)
      if (self->client_budget_) *self->client_budget_ -= n;
      self->last_activity_ = std::chrono::steady_clock::now();
      self->ws_->binary(true);
      self->writing_ = true;
      self->ws_->async_write(net::buffer(self->up_.data(), n), [self](beast::error_code wec, size_t) {
        self->writing_ = false;
        if (wec) return self->Abort();
        self->ReadClient();
      });
    });
  }

  void SendFin() {
    ws_->text(true);
    writing_ = true;
    ws_->async_write(net::buffer(ew::net::kSpliceFin, 3),
                     [self = this->shared_from_this()](beast::error_code, size_t) { self->writing_ = false; });
  }

  void ReadBoard() {
    reading_ = true;
    ws_->async_read(down_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->reading_ = false;
      if (self->finished_) return;
      self->liveness_.Heard();
      if (ec || !self->ws_->got_binary()) return self->EndWithBoard();  // FIN, close or error
      self->last_activity_ = std::chrono::steady_clock::now();
      if (!self->client_budget_ && !self->upgrade_answered_) {
        // An upgrade: the client's further bytes are the upgraded stream only if the board
        // switched protocols; otherwise they would be a second, unrewritten request.
        self->upgrade_answered_ = true;
        const auto data = self->down_.cdata();
        const std::string_view first(static_cast<const char*>(data.data()), std::min<size_t>(data.size(), 12));
        if (first == "HTTP/1.1 101" || first == "HTTP/1.0 101") {
          self->switched_ = true;
          if (self->initial_written_) self->ReadClient();  // else once the head's write is done
        } else {
          self->client_budget_ = 0;
        }
      }
      net::async_write(self->stream_, self->down_.cdata(), [self](beast::error_code wec, size_t) {
        if (wec) return self->Abort();
        self->down_.consume(self->down_.size());
        self->down_.shrink_to_fit();
        self->ReadBoard();
      });
    });
  }

  // The board's side is over and everything it sent is written: end the client's connection
  // (TLS: close_notify, bounded by the handshake timeout).
  void EndWithBoard() {
    if constexpr (kIsTls<Stream>) {
      beast::get_lowest_layer(stream_).expires_after(server_->options.handshake_timeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->Abort(); });
    } else {
      beast::error_code ignored;
      beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
      Abort();
    }
  }

  void Abort() {
    if (finished_) return;
    finished_ = true;
    ping_timer_.cancel();
    idle_timer_.cancel();
    CloseSocket(stream_);
    CloseSocket(*ws_);
  }

  Stream stream_;
  std::shared_ptr<WebSocket> ws_;
  std::string initial_;
  Ticket ticket_;
  std::shared_ptr<ssl::context> tls_;
  std::shared_ptr<Server::Impl> server_;
  std::vector<char> up_;
  beast::flat_buffer down_;
  net::steady_timer ping_timer_;
  net::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point last_activity_;
  std::optional<uint64_t> client_budget_;
  bool upgrade_answered_ = false;  // an upgrade's first answer from the board was seen
  bool switched_ = false;          // ... and it was 101: the client's bytes are the upgraded stream
  bool initial_written_ = false;   // the rewritten head went to the board
  ew::net::LegLiveness liveness_;
  bool reading_ = false;  // a read of the board's WebSocket is in flight
  bool writing_ = false;  // a write of ours to it is in flight
  bool finished_ = false;
};

}  // namespace ew::server
