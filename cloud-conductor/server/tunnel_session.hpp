// A board's tunnel WebSocket on the conductor's port (docs/ARCHITECTURE.md "Tunnels"): made
// from an HTTP connection's upgrade to /v1/tunnel/<token> once the token was redeemed
// (tunnel_types.hpp), it answers the WebSocket handshake within the handshake timeout and then
// hands the stream to a splice (common/net/ws_splice.hpp) with the client's connection, or, for
// a proxied HTTP request, to that request's session (BoardLeg). Internal to cloud-conductor/server.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include <boost/beast/websocket.hpp>

#include "cloud-conductor/server/server_impl.hpp"
#include "cloud-conductor/server/tunnel_types.hpp"
#include "common/net/ws_splice.hpp"

namespace ew::server {

// What a board's tunnel connection keeps alive for as long as its splice runs.
struct TunnelKeep {
  Ticket ticket;                       // its place under the connection caps
  std::shared_ptr<ssl::context> tls;   // the context its TLS stream was made from (null: plain)
};

// A splice's options for a board's tunnel leg, a service's or a proxied request's.
inline ew::net::SpliceOptions BoardLegOptions(const ServerOptions& server) {
  ew::net::SpliceOptions options;
  options.ping_interval = server.tunnel_ping_interval;
  // The board's agent sends at most a chunk per message (the handshake answer tells it
  // kTunnelChunkBytes, TunnelSession::Run): nothing larger is buffered here.
  options.max_message_bytes = ew::net::kTunnelChunkBytes;
  return options;
}

// A board's tunnel WebSocket for a proxied HTTP request (TunnelEnd::deliver), on its way to the
// HTTP session that splices it with its client. Whoever splices it takes `observer` (the splice
// reports the end); if nobody does (the client went first), the connection ends here.
template <typename Stream>
struct BoardLeg {
  BoardLeg(beast::websocket::stream<Stream>&& w, std::shared_ptr<ew::net::SpliceObserver> o,
           std::shared_ptr<TunnelKeep> k)
      : ws(std::move(w)), observer(std::move(o)), keep(std::move(k)) {}
  ~BoardLeg() {
    if (observer) observer->OnEnd("proxied request over before its splice started");
  }
  BoardLeg(const BoardLeg&) = delete;
  BoardLeg& operator=(const BoardLeg&) = delete;

  beast::websocket::stream<Stream> ws;
  std::shared_ptr<ew::net::SpliceObserver> observer;
  std::shared_ptr<TunnelKeep> keep;
};

template <typename Stream>
class TunnelSession final : public std::enable_shared_from_this<TunnelSession<Stream>> {
 public:
  TunnelSession(Stream&& stream, std::shared_ptr<Server::Impl> server, TunnelEnd end, std::string peer, Ticket ticket,
                std::shared_ptr<ssl::context> tls)
      : ws_(std::move(stream)),
        server_(std::move(server)),
        end_(std::move(end)),
        peer_(std::move(peer)),
        deadline_(ws_.get_executor()),
        ticket_(std::move(ticket)),
        tls_(std::move(tls)) {}

  void Run(beast::http::request<beast::http::string_body> req) {
    namespace websocket = beast::websocket;
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(),
                                                   false});
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) {
          res.set(beast::http::field::server, "edgewire-conductor");
          // The largest message this conductor takes from the board (agents before it send 64 KiB).
          res.set(ew::net::kTunnelMaxMessageHeader, std::to_string(ew::net::kTunnelChunkBytes));
        }));
    deadline_.expires_after(server_->options.handshake_timeout);
    deadline_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->accepted_) return;
      Log()->info("tunnel WebSocket from {}: opening handshake timed out", self->peer_);
      CloseSocket(self->ws_);
    });
    ws_.async_accept(req, [self = this->shared_from_this()](beast::error_code ec) { self->OnAccept(ec); });
  }

 private:
  void OnAccept(beast::error_code ec) {
    accepted_ = true;
    deadline_.cancel();
    if (ec) {
      Log()->info("tunnel WebSocket from {}: handshake failed: {}", peer_, ec.message());
      if (end_.observer) end_.observer->OnEnd("tunnel handshake failed: " + ec.message());
      beast::error_code ignored;
      end_.socket.close(ignored);
      return;
    }
    if (end_.deliver) {
      // A proxied HTTP request: its session splices its own stream with this WebSocket (the
      // same WsSplice, http_session.hpp); this connection's ticket and TLS context go along.
      auto leg = std::make_shared<BoardLeg<Stream>>(std::move(ws_), std::move(end_.observer),
                                                    std::make_shared<TunnelKeep>(TunnelKeep{std::move(ticket_), std::move(tls_)}));
      auto deliver = std::move(end_.deliver);
      deliver(std::any(std::move(leg)));
      return;
    }
    auto keep = std::make_shared<TunnelKeep>(TunnelKeep{std::move(ticket_), std::move(tls_)});
    auto splice = std::make_shared<ew::net::WsSplice<Stream>>(std::move(ws_), std::move(end_.socket),
                                                              BoardLegOptions(server_->options),
                                                              std::move(end_.observer), std::any(std::move(keep)));
    splice->Start();
  }

  beast::websocket::stream<Stream> ws_;
  std::shared_ptr<Server::Impl> server_;
  TunnelEnd end_;
  std::string peer_;
  net::steady_timer deadline_;
  bool accepted_ = false;
  Ticket ticket_;                      // this connection's place under the connection caps
  std::shared_ptr<ssl::context> tls_;  // the context the TLS stream was made from (null: plain)
};

}  // namespace ew::server
