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
// The conductor's HTTP requests proxied to a board (/v1/boards/{id}/proxy/{port}/) use this same
// splice, with the client's HTTP connection (plain or TLS) as the TCP side and a few options
// (SpliceOptions: the rewritten request head first, the body's budget, the upgrade gate, the
// board's end ending the connection, an idle timeout), so the wire format, back-pressure,
// liveness and byte counts are written once (security review 2, finding 4).
//
// Threading: every handler runs on the streams' executor (one io thread); Start() and Stop()
// must be called there too. Header-only, a template over the WebSocket's lowest stream (plain
// Beast basic_stream, the conductor's TlsStream, beast::ssl_stream<beast::tcp_stream>) and the
// TCP side (a TCP socket of any executor type, or one of those streams).
#pragma once

#include <algorithm>
#include <any>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
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

// The largest bytes message a tunnel's ends send. 256 KiB: each message costs a wake-up, a frame
// and a read and write per side, so bulk transfers gain from large ones (on loopback, board →
// client: 64 KiB 10.7-12.3 Gbit/s, 128 KiB 13.2, 256 KiB 14.4, 1 MiB 13.2, where the buffers
// leave the cache; docs/BENCHMARKS.md "Tunnels"). A buffer is held only while bytes move.
inline constexpr size_t kTunnelChunkBytes = 256 * 1024;
// What conductors before kTunnelChunkBytes took from a board (their max_message_bytes); an agent
// sends no more unless the conductor's handshake answer names a larger limit in this header.
inline constexpr size_t kLegacyTunnelChunkBytes = 64 * 1024;
inline constexpr const char* kTunnelMaxMessageHeader = "X-Edgewire-Tunnel-Max-Message";

// The chunk an agent sends on a tunnel whose conductor answered its handshake with `header`
// (kTunnelMaxMessageHeader's value, empty when absent): that limit when it is a plain number
// from kLegacyTunnelChunkBytes up, at most kTunnelChunkBytes; kLegacyTunnelChunkBytes otherwise.
inline size_t TunnelChunkBytesFor(std::string_view header) {
  if (header.empty() || header.size() > 12) return kLegacyTunnelChunkBytes;
  uint64_t value = 0;
  const char* end = header.data() + header.size();
  const auto [stop, error] = std::from_chars(header.data(), end, value);  // digits only: no sign, no space
  if (error != std::errc() || stop != end || value < kLegacyTunnelChunkBytes) return kLegacyTunnelChunkBytes;
  return static_cast<size_t>(std::min<uint64_t>(value, kTunnelChunkBytes));
}

struct SpliceOptions {
  // Largest chunk read from the TCP side, sent as one binary message (kTunnelChunkBytes).
  size_t chunk_bytes = kTunnelChunkBytes;
  // Largest message accepted from the WebSocket; the peer sends at most its chunk_bytes.
  size_t max_message_bytes = 1 << 20;
  // Our closing handshake (both sides half-closed, or Stop()) gets this long before the socket
  // is simply closed; so does the client's end after the peer's (end_with_peer).
  std::chrono::milliseconds close_timeout{5'000};
  // An idle leg is pinged after this long without hearing from the peer and closed when the
  // next interval brings nothing either (2-3 intervals in all). 15 s: cheap (a few bytes per
  // idle tunnel), well inside NAT flow timeouts, and a dead leg is gone within 45 s.
  // 0 = no pings (TCP keepalive only).
  std::chrono::milliseconds ping_interval{15'000};
  // Once both directions are done (each side sent and received "FIN"), this side sends the
  // close frame; otherwise it waits for the peer's (within close_timeout) and answers it. Exactly
  // one end of a tunnel may start it: when both started it at the same moment (both TCP ends
  // closing together, the common case of a short exchange), most such tunnels between a real
  // conductor and agent stayed open, idle, until close_timeout, so a run of short connections
  // filled the conductor's per-address cap with finished tunnels (test_tunnels.py,
  // test_short_connections_leave_no_tunnel_open). The conductor's side starts it (the WebSocket
  // server, which RFC 6455 §7.1.1 has close the TCP connection first); the board's sets false.
  bool starts_close_handshake = true;

  // ---- for an HTTP request proxied to a board (cloud-conductor/server/http_session.hpp);
  // the defaults are a service tunnel's plain byte stream ----

  // Sent into the WebSocket before any byte of the TCP side (the request's rewritten head and
  // the body bytes read with it); counted as bytes to the WebSocket.
  std::string preface;
  // Most bytes carried from the TCP side after the preface (the rest of the request's body);
  // past it the TCP side is not read again (a pipelined request never reaches the peer).
  // nullopt: all of them.
  std::optional<uint64_t> up_budget;
  // The TCP side's bytes pass only once the peer's first message begins "HTTP/1.x 101" (an
  // upgrade the board's service accepted); any other answer closes the gate for good.
  bool up_after_switching_protocols = false;
  // The peer's FIN, close or failure ends the whole connection: once all it sent is written, the
  // TCP side is ended gracefully (TLS close_notify; within close_timeout). Otherwise a FIN
  // half-closes the TCP side and the tunnel lives on until both sides are done.
  bool end_with_peer = false;
  // Nothing either way for this long ends the connection ("idle for N s"). 0 = never.
  std::chrono::milliseconds idle_timeout{0};
};

inline constexpr const char* kSpliceFin = "FIN";

// `Client` is the TCP side: a raw socket (a service's client, the board's local connection),
// read by waiting for readability so that an idle tunnel holds no buffer; or a stream (the
// conductor's HTTP connection, plain or TLS, for a proxied request), read with async_read_some.
template <typename Stream, typename Client = boost::asio::ip::tcp::socket>
class WsSplice final : public std::enable_shared_from_this<WsSplice<Stream, Client>> {
 public:
  using WebSocket = boost::beast::websocket::stream<Stream>;
  using Socket = boost::asio::ip::tcp::socket;

  // `ws` is open (handshake done) and has nothing in flight, and so has `client`. `keep` lives
  // as long as the splice (the conductor's connection tickets and TLS contexts).
  WsSplice(WebSocket&& ws, Client&& client, SpliceOptions options, std::shared_ptr<SpliceObserver> observer,
           std::any keep = {})
      : ws_(std::move(ws)),
        client_(std::move(client)),
        options_(std::move(options)),
        observer_(std::move(observer)),
        close_deadline_(ClientSocket().get_executor()),
        ping_timer_(ClientSocket().get_executor()),
        idle_timer_(ClientSocket().get_executor()),
        keep_(std::move(keep)),
        preface_(std::move(options_.preface)),
        up_budget_(options_.up_budget) {}

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
    auto& socket = ClientSocket();
    socket.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    if constexpr (kRawClient) {
      socket.non_blocking(true, ignored);
    } else {
      boost::beast::get_lowest_layer(client_).expires_never();  // the HTTP session's deadlines end here
    }
    // An idle tunnel sends nothing: TCP keepalive finds a peer that vanished with the network
    // (the kernel's default timing), on both of its connections.
    socket.set_option(boost::asio::socket_base::keep_alive(true), ignored);
    boost::beast::get_lowest_layer(ws_).socket().set_option(boost::asio::socket_base::keep_alive(true), ignored);
    if (auto observer = observer_) {  // a copy: OnStart may stop the splice, which lets go of observer_
      std::weak_ptr<WsSplice> weak = this->shared_from_this();
      observer->OnStart([weak](const std::string& reason) {
        if (auto self = weak.lock()) self->Stop(reason);
      });
      if (finished_) return;
    }
    Touch();
    if (preface_.empty()) {
      preface_written_ = true;
      ReadClient();
    } else {
      WritePreface();
    }
    ReadWebSocket();
    SchedulePing();
    ScheduleIdle();
  }

  // Ends the tunnel now (service deleted, caller revoked, conductor stopping): both streams
  // are closed.
  void Stop(const std::string& reason) { Abort(reason); }

 private:
  using error_code = boost::system::error_code;
  // A raw TCP socket, of whatever executor type; anything else is a stream.
  template <typename T>
  struct IsTcpSocket : std::false_type {};
  template <typename Executor>
  struct IsTcpSocket<boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>> : std::true_type {};
  static constexpr bool kRawClient = IsTcpSocket<Client>::value;

  // The client's TCP socket: a raw one, or the one under a stream (of whatever executor type).
  auto& ClientSocket() {
    if constexpr (kRawClient) {
      return client_;
    } else {
      return boost::beast::get_lowest_layer(client_).socket();
    }
  }

  // ---- TCP side → WebSocket ----

  void WritePreface() {
    ws_.binary(true);
    ws_writing_ = true;
    ws_.async_write(boost::asio::buffer(preface_), [self = this->shared_from_this()](error_code ec, size_t sent) {
      self->ws_writing_ = false;
      if (self->finished_) return;
      if (ec) return self->Abort("websocket write: " + ec.message());
      if (self->observer_) self->observer_->OnBytes(true, sent);
      std::string().swap(self->preface_);
      self->preface_written_ = true;
      self->ReadClient();
    });
  }

  // The TCP side's next bytes, when its gate is open: the preface is written, an upgrade was
  // accepted (up_after_switching_protocols), the budget is not spent.
  void ReadClient() {
    if (finished_ || up_done_ || client_reading_ || !preface_written_) return;
    if (options_.up_after_switching_protocols && !switched_) return;
    if (up_budget_ && *up_budget_ == 0) return ReleaseUp();  // all carried: nothing after it goes
    client_reading_ = true;
    if constexpr (kRawClient) {
      WaitSocket();
    } else {
      if (!up_) up_.reset(new char[options_.chunk_bytes]);  // not zeroed: a read fills what it uses
      client_.async_read_some(boost::asio::buffer(up_.get(), UpWant()),
                              [self = this->shared_from_this()](error_code ec, size_t n) {
                                self->client_reading_ = false;
                                if (self->finished_) return;
                                // The client ended: EOF, close_notify, or TCP ending without it.
                                if (ec) return self->SendFin();
                                self->Up(n);
                              });
    }
  }

  size_t UpWant() const {
    return up_budget_ ? static_cast<size_t>(std::min<uint64_t>(options_.chunk_bytes, *up_budget_))
                      : options_.chunk_bytes;
  }

  void WaitSocket() {
    client_.async_wait(Socket::wait_read, [self = this->shared_from_this()](error_code ec) { self->OnReadable(ec); });
  }

  void OnReadable(error_code ec) {
    if (finished_) return;
    if (ec) return Abort("client socket: " + ec.message());
    if (!up_) up_.reset(new char[options_.chunk_bytes]);  // not zeroed: a read fills what it uses
    const size_t n = client_.read_some(boost::asio::buffer(up_.get(), UpWant()), ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      ReleaseUp();
      return WaitSocket();
    }
    client_reading_ = false;
    if (ec == boost::asio::error::eof) return SendFin();
    if (ec) return Abort("socket read: " + ec.message());
    Up(n);
  }

  void Up(size_t n) {
    if (up_budget_) *up_budget_ -= n;
    Touch();
    ws_.binary(true);
    ws_writing_ = true;
    ws_.async_write(boost::asio::buffer(up_.get(), n), [self = this->shared_from_this()](error_code wec, size_t sent) {
      self->ws_writing_ = false;
      if (self->finished_) return;
      if (wec) return self->Abort("websocket write: " + wec.message());
      if (self->observer_) self->observer_->OnBytes(true, sent);
      if constexpr (kRawClient) {
        // Read on at once: a bulk sender usually has more waiting, and readability costs a poll.
        if (!self->UpGateOpen()) return self->ReleaseUp();
        self->client_reading_ = true;
        return self->OnReadable({});
      } else {
        self->ReadClient();
      }
    });
  }

  bool UpGateOpen() const {
    return !(options_.up_after_switching_protocols && !switched_) && !(up_budget_ && *up_budget_ == 0);
  }

  void ReleaseUp() { up_.reset(); }

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

  // ---- WebSocket → TCP side ----

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
      const std::string why = clean ? "closed"
                              : ec == boost::beast::websocket::error::closed ? "tunnel closed by the peer"
                                                                             : "websocket read: " + ec.message();
      return options_.end_with_peer ? EndWithPeer(why) : Abort(why);
    }
    if (!ws_.got_binary()) {
      const auto data = down_.cdata();
      const std::string text(static_cast<const char*>(data.data()), data.size());
      down_.consume(down_.size());
      if (text != kSpliceFin) return Abort("unexpected text message on a tunnel");
      if (options_.end_with_peer) return EndWithPeer("the board's side ended");
      down_done_ = true;
      error_code ignored;
      ClientSocket().shutdown(Socket::shutdown_send, ignored);
      MaybeClose();
      return ReadWebSocket();  // the close frame still comes
    }
    if (down_done_) return Abort("bytes after FIN on a tunnel");
    Touch();
    if (options_.up_after_switching_protocols && !peer_answered_) {
      // An upgrade: the client's further bytes are the upgraded stream only if the board
      // switched protocols; otherwise they would be a second, unrewritten request.
      peer_answered_ = true;
      const auto data = down_.cdata();
      const std::string_view first(static_cast<const char*>(data.data()), std::min<size_t>(data.size(), 12));
      if (first == "HTTP/1.1 101" || first == "HTTP/1.0 101") {
        switched_ = true;
        ReadClient();
      } else {
        up_budget_ = 0;
      }
    }
    boost::asio::async_write(client_, down_.cdata(), [self = this->shared_from_this()](error_code wec, size_t n) {
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

  void Touch() {
    if (options_.idle_timeout.count() > 0) last_activity_ = std::chrono::steady_clock::now();
  }

  void ScheduleIdle() {
    if (options_.idle_timeout.count() <= 0 || finished_) return;
    idle_timer_.expires_at(last_activity_ + options_.idle_timeout);
    idle_timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->finished_) return;
      if (std::chrono::steady_clock::now() - self->last_activity_ >= self->options_.idle_timeout) {
        const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(self->options_.idle_timeout).count();
        return self->Abort("idle for " + std::to_string(seconds) + " s");
      }
      self->ScheduleIdle();
    });
  }

  // ---- ends ----

  // Both directions half-closed: the whole tunnel is done; the side with starts_close_handshake
  // sends the close frame.
  void MaybeClose() {
    if (!up_done_ || !down_done_ || closing_) return;
    closing_ = true;
    close_deadline_.expires_after(options_.close_timeout);
    close_deadline_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec) self->Abort("closing handshake timed out");
    });
    // The other end sends the close frame: our read, always in flight, answers it and ends
    // with websocket::error::closed (OnMessage).
    if (!options_.starts_close_handshake) return;
    ws_.async_close(boost::beast::websocket::close_code::normal,
                    [self = this->shared_from_this()](error_code) { self->Abort("closed"); });
  }

  // end_with_peer: the peer is done and everything it sent is written; the client's connection
  // ends gracefully (TLS: close_notify, then the client's), within close_timeout. A read of the
  // client still in flight (an upgraded stream) cannot share the stream with that teardown: then
  // it is simply closed.
  void EndWithPeer(const std::string& reason) {
    if (closing_ || client_reading_) return Abort(reason);
    closing_ = true;
    close_deadline_.expires_after(options_.close_timeout);
    close_deadline_.async_wait([self = this->shared_from_this(), reason](error_code ec) {
      if (!ec) self->Abort(reason);
    });
    using boost::beast::websocket::async_teardown;
    async_teardown(boost::beast::role_type::server, client_,
                   [self = this->shared_from_this(), reason](error_code) { self->Abort(reason); });
  }

  // Closes both sockets; pending operations complete with errors and find finished_ set.
  void Abort(const std::string& reason) {
    if (finished_) return;
    finished_ = true;
    error_code ignored;
    close_deadline_.cancel();
    ping_timer_.cancel();
    idle_timer_.cancel();
    auto& client = ClientSocket();
    client.shutdown(Socket::shutdown_both, ignored);
    client.close(ignored);
    auto& lowest = boost::beast::get_lowest_layer(ws_).socket();
    lowest.shutdown(Socket::shutdown_both, ignored);
    lowest.close(ignored);
    if (auto observer = std::move(observer_)) observer->OnEnd(reason);
  }

  WebSocket ws_;
  Client client_;
  SpliceOptions options_;
  std::shared_ptr<SpliceObserver> observer_;
  boost::asio::steady_timer close_deadline_;
  boost::asio::steady_timer ping_timer_;
  boost::asio::steady_timer idle_timer_;
  LegLiveness liveness_;
  bool reading_ = false;     // a read of the WebSocket is in flight
  bool ws_writing_ = false;  // a write of ours to the WebSocket is in flight
  std::any keep_;
  std::string preface_;                  // options_.preface, until written
  std::optional<uint64_t> up_budget_;    // what is left of options_.up_budget
  std::unique_ptr<char[]> up_;        // the TCP side's chunk in flight (chunk_bytes); null while idle (raw socket)
  // The WebSocket message in flight, bounded so that a message cut into many frames cannot grow
  // it past max_message_bytes (Beast doubles capacity as it grows).
  boost::beast::flat_buffer down_{options_.max_message_bytes};
  std::chrono::steady_clock::time_point last_activity_;  // with an idle_timeout only
  bool client_reading_ = false;       // a read (or wait) of the TCP side is in flight
  bool preface_written_ = false;
  bool peer_answered_ = false;        // up_after_switching_protocols: the peer's first message seen
  bool switched_ = false;             // ... and it was 101: the client's bytes are the upgraded stream
  bool up_done_ = false;              // our TCP peer sent FIN and we sent "FIN"
  bool down_done_ = false;            // "FIN" received and our socket's send side shut down
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace ew::net
