// The byte pump of a reverse tunnel (docs/ARCHITECTURE.md "Tunnels"): one TCP connection and
// one WebSocket that carries the same byte stream, spliced both ways. The conductor splices a
// client's connection to the tunnel WebSocket its board dialled; the agent splices that
// WebSocket to its connection to 127.0.0.1:<port>. Both sides use this one class, so the wire
// format is written once:
//   - a binary message is bytes of the stream (never empty);
//   - a text message "FIN" is a half-close: the sender will send no more bytes (its TCP peer
//     sent FIN); the receiver shuts down the sending side of its socket;
//   - a close frame (or a dropped connection) ends the whole tunnel at once.
//
// Back-pressure: each direction has one read in flight at most, and the next read of a side
// starts only once the bytes of the last one were written to the other side. A slow reader
// therefore stops the reads of the fast writer (TCP's own windows then push back on it), and
// memory stays at one buffer per direction, whatever the rates. An idle tunnel holds no read
// buffer: it waits for readability and takes a buffer only for bytes that are there.
//
// Liveness: each side pings its WebSocket when it heard nothing for a ping interval and ends
// the tunnel (both sockets closed) when a further interval brings no answer (leg_liveness.hpp),
// so a vanished peer is found within two to three intervals instead of TCP keepalive's hours.
//
// Threading: every handler runs on the streams' executor (one io thread); Start() and Stop()
// must be called there too. Header-only, a template over the WebSocket's lowest stream: plain
// beast::tcp_stream, the conductor's TlsStream, beast::ssl_stream<beast::tcp_stream>.
#pragma once

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "common/net/leg_liveness.hpp"
#include "common/net/splice_observer.hpp"

namespace ew::net {

struct SpliceOptions {
  // Largest chunk read from the TCP side, sent as one binary message. 64 KiB: large enough for
  // loopback-rate bulk transfers, small enough that a buffer per direction is cheap.
  size_t chunk_bytes = 64 * 1024;
  // Largest message accepted from the WebSocket; the peer sends at most its chunk_bytes.
  size_t max_message_bytes = 1 << 20;
  // Our closing handshake (both sides half-closed, or Stop()) gets this long before the socket
  // is simply closed.
  std::chrono::milliseconds close_timeout{5'000};
  // An idle leg is pinged after this long without hearing from the peer and closed when the
  // next interval brings nothing either (2-3 intervals in all). 15 s: cheap (a few bytes per
  // idle tunnel), well inside NAT flow timeouts, and a dead leg is gone within 45 s.
  // 0 = no pings (TCP keepalive only).
  std::chrono::milliseconds ping_interval{15'000};
};

inline constexpr const char* kSpliceFin = "FIN";

template <typename Stream>
class WsSplice final : public std::enable_shared_from_this<WsSplice<Stream>> {
 public:
  using WebSocket = boost::beast::websocket::stream<Stream>;
  using Socket = boost::asio::ip::tcp::socket;

  // `ws` is open (handshake done) and has nothing in flight. `keep` lives as long as the splice
  // (the conductor's connection ticket).
  WsSplice(WebSocket&& ws, Socket&& socket, SpliceOptions options, std::shared_ptr<SpliceObserver> observer,
           std::any keep = {})
      : ws_(std::move(ws)),
        socket_(std::move(socket)),
        options_(options),
        observer_(std::move(observer)),
        close_deadline_(socket_.get_executor()),
        ping_timer_(socket_.get_executor()),
        keep_(std::move(keep)) {}

  void Start() {
    namespace websocket = boost::beast::websocket;
    // Our own close deadline, never Beast's timeouts (see cloud-conductor/server/ws_session.hpp
    // for the Beast 1.74 assertion they can hit).
    ws_.set_option(websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(),
                                                   false});
    ws_.read_message_max(options_.max_message_bytes);
    ws_.auto_fragment(false);
    // Pongs (and the peer's pings) are signs of life too; Beast answers pings by itself.
    ws_.control_callback([this](websocket::frame_type, boost::beast::string_view) { liveness_.Heard(); });
    boost::system::error_code ignored;
    socket_.set_option(Socket::protocol_type::no_delay(true), ignored);
    socket_.non_blocking(true, ignored);
    // An idle tunnel sends nothing: TCP keepalive finds a peer that vanished with the network
    // (the kernel's default timing), on both of its connections.
    socket_.set_option(boost::asio::socket_base::keep_alive(true), ignored);
    boost::beast::get_lowest_layer(ws_).socket().set_option(boost::asio::socket_base::keep_alive(true), ignored);
    if (auto observer = observer_) {  // a copy: OnStart may stop the splice, which lets go of observer_
      std::weak_ptr<WsSplice> weak = this->shared_from_this();
      observer->OnStart([weak](const std::string& reason) {
        if (auto self = weak.lock()) self->Stop(reason);
      });
      if (finished_) return;
    }
    WaitSocket();
    ReadWebSocket();
    SchedulePing();
  }

  // Ends the tunnel now (service deleted, conductor stopping): both streams are closed.
  void Stop(const std::string& reason) { Abort(reason); }

 private:
  using error_code = boost::system::error_code;

  // ---- TCP → WebSocket ----

  void WaitSocket() {
    socket_.async_wait(Socket::wait_read, [self = this->shared_from_this()](error_code ec) { self->OnReadable(ec); });
  }

  void OnReadable(error_code ec) {
    if (finished_) return;
    if (ec) return Abort("client socket: " + ec.message());
    if (up_.empty()) up_.resize(options_.chunk_bytes);
    const size_t n = socket_.read_some(boost::asio::buffer(up_), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      ReleaseUp();
      return WaitSocket();
    }
    if (ec == boost::asio::error::eof) return SendFin();
    if (ec) return Abort("socket read: " + ec.message());
    ws_.binary(true);
    ws_writing_ = true;
    ws_.async_write(boost::asio::buffer(up_.data(), n), [self = this->shared_from_this()](error_code wec, size_t sent) {
      self->ws_writing_ = false;
      if (self->finished_) return;
      if (wec) return self->Abort("websocket write: " + wec.message());
      if (self->observer_) self->observer_->OnBytes(true, sent);
      // Read on at once: a bulk sender usually has more waiting, and readability costs a poll.
      self->OnReadable({});
    });
  }

  void ReleaseUp() { std::vector<char>().swap(up_); }

  void SendFin() {
    ReleaseUp();
    ws_.text(true);
    ws_writing_ = true;
    ws_.async_write(boost::asio::buffer(kSpliceFin, 3), [self = this->shared_from_this()](error_code ec, size_t) {
      self->ws_writing_ = false;
      if (self->finished_) return;
      if (ec) return self->Abort("websocket write: " + ec.message());
      self->up_done_ = true;
      self->MaybeClose();
    });
  }

  // ---- WebSocket → TCP ----

  void ReadWebSocket() {
    reading_ = true;
    ws_.async_read(down_, [self = this->shared_from_this()](error_code ec, size_t) { self->OnMessage(ec); });
  }

  void OnMessage(error_code ec) {
    reading_ = false;
    if (finished_) return;
    liveness_.Heard();
    if (ec) {
      // The peer's close frame (or ours answered) ends the tunnel: whatever was not half-closed
      // is cut.
      const bool clean = ec == boost::beast::websocket::error::closed && up_done_ && down_done_;
      return Abort(clean ? "closed" : ec == boost::beast::websocket::error::closed ? "tunnel closed by the peer"
                                                                                  : "websocket read: " + ec.message());
    }
    if (!ws_.got_binary()) {
      const auto data = down_.cdata();
      const std::string text(static_cast<const char*>(data.data()), data.size());
      down_.consume(down_.size());
      if (text != kSpliceFin) return Abort("unexpected text message on a tunnel");
      down_done_ = true;
      error_code ignored;
      socket_.shutdown(Socket::shutdown_send, ignored);
      MaybeClose();
      return ReadWebSocket();  // the close frame still comes
    }
    if (down_done_) return Abort("bytes after FIN on a tunnel");
    boost::asio::async_write(socket_, down_.cdata(), [self = this->shared_from_this()](error_code wec, size_t n) {
      if (self->finished_) return;
      if (wec) return self->Abort("socket write: " + wec.message());
      if (self->observer_) self->observer_->OnBytes(false, n);
      self->down_.consume(self->down_.size());
      self->down_.shrink_to_fit();  // an idle tunnel keeps no message buffer
      self->ReadWebSocket();
    });
  }

  // ---- liveness ----

  void SchedulePing() {
    if (options_.ping_interval.count() <= 0 || finished_ || closing_) return;
    ping_timer_.expires_after(options_.ping_interval);
    ping_timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec) self->OnPingTick();
    });
  }

  void OnPingTick() {
    if (finished_ || closing_) return;
    switch (liveness_.Tick(/*can_hear=*/reading_ && !ws_writing_)) {
      case LegLiveness::Action::kDead:
        return Abort("no answer to a ping within " + std::to_string(options_.ping_interval.count()) + " ms");
      case LegLiveness::Action::kPing:
        ws_.async_ping({}, [self = this->shared_from_this()](error_code) {});
        break;
      case LegLiveness::Action::kNothing:
        break;
    }
    SchedulePing();
  }

  // ---- ends ----

  // Both directions half-closed: the whole tunnel is done; the side that sees it second starts
  // the closing handshake.
  void MaybeClose() {
    if (!up_done_ || !down_done_ || closing_) return;
    closing_ = true;
    close_deadline_.expires_after(options_.close_timeout);
    close_deadline_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec) self->Abort("closing handshake timed out");
    });
    ws_.async_close(boost::beast::websocket::close_code::normal,
                    [self = this->shared_from_this()](error_code) { self->Abort("closed"); });
  }

  // Closes both sockets; pending operations complete with errors and find finished_ set.
  void Abort(const std::string& reason) {
    if (finished_) return;
    finished_ = true;
    error_code ignored;
    close_deadline_.cancel();
    ping_timer_.cancel();
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
    auto& lowest = boost::beast::get_lowest_layer(ws_).socket();
    lowest.shutdown(Socket::shutdown_both, ignored);
    lowest.close(ignored);
    if (auto observer = std::move(observer_)) observer->OnEnd(reason);
  }

  WebSocket ws_;
  Socket socket_;
  SpliceOptions options_;
  std::shared_ptr<SpliceObserver> observer_;
  boost::asio::steady_timer close_deadline_;
  boost::asio::steady_timer ping_timer_;
  LegLiveness liveness_;
  bool reading_ = false;     // a read of the WebSocket is in flight
  bool ws_writing_ = false;  // a write of ours to the WebSocket is in flight
  std::any keep_;
  std::vector<char> up_;              // the TCP side's chunk in flight; empty while idle
  boost::beast::flat_buffer down_;    // the WebSocket message in flight
  bool up_done_ = false;              // our TCP peer sent FIN and we sent "FIN"
  bool down_done_ = false;            // "FIN" received and our socket's send side shut down
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace ew::net
