// An HTTP request proxied to a board (/v1/boards/{id}/proxy/{port}/...): once the conductor has
// checked the caller and the board dialled its tunnel WebSocket, the client's connection (its
// TLS included) is spliced with that WebSocket. The request's head goes first, rewritten (path
// without the prefix, Host 127.0.0.1:<port>, the caller's token removed, Connection: close unless
// it is a WebSocket upgrade), then every byte both ways: bodies, responses, upgraded WebSocket
// frames. Same wire format and back-pressure as common/net/ws_splice.hpp. The connection ends
// when the board's side ends (one request per connection). Internal to cloud-conductor/server.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/beast/websocket.hpp>

#include "cloud-conductor/server/server_impl.hpp"
#include "common/net/ws_splice.hpp"

namespace ew::server {

template <typename Stream>
class ProxySplice final : public std::enable_shared_from_this<ProxySplice<Stream>> {
 public:
  using WebSocket = beast::websocket::stream<Stream>;

  ProxySplice(Stream&& stream, std::shared_ptr<WebSocket> ws, std::string initial, Ticket ticket,
              std::shared_ptr<ssl::context> tls, std::shared_ptr<Server::Impl> server)
      : stream_(std::move(stream)),
        ws_(std::move(ws)),
        initial_(std::move(initial)),
        ticket_(std::move(ticket)),
        tls_(std::move(tls)),
        server_(std::move(server)) {}

  void Start() {
    namespace websocket = beast::websocket;
    beast::get_lowest_layer(stream_).expires_never();
    ws_->set_option(websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(),
                                                    false});
    ws_->read_message_max(1 << 20);
    ws_->auto_fragment(false);
    ws_->binary(true);
    ws_->async_write(net::buffer(initial_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Abort();
      std::string().swap(self->initial_);
      self->ReadClient();
    });
    ReadBoard();
  }

 private:
  void ReadClient() {
    if (up_.empty()) up_.resize(64 * 1024);
    stream_.async_read_some(net::buffer(up_), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      if (self->finished_) return;
      if (ec) return self->SendFin();  // the client ended (EOF, close_notify or error)
      self->ws_->binary(true);
      self->ws_->async_write(net::buffer(self->up_.data(), n), [self](beast::error_code wec, size_t) {
        if (wec) return self->Abort();
        self->ReadClient();
      });
    });
  }

  void SendFin() {
    ws_->text(true);
    ws_->async_write(net::buffer(ew::net::kSpliceFin, 3), [self = this->shared_from_this()](beast::error_code, size_t) {});
  }

  void ReadBoard() {
    ws_->async_read(down_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (self->finished_) return;
      if (ec || !self->ws_->got_binary()) return self->EndWithBoard();  // FIN, close or error
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
  bool finished_ = false;
};

}  // namespace ew::server
