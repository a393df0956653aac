// Two WebSockets that carry one tunnel's byte stream, relayed message by message: the
// conductor's authenticated service connections (GET /v1/services/{id}/connect,
// docs/ARCHITECTURE.md "Tunnels") join a client's WebSocket to the board's tunnel WebSocket.
// Both legs speak the splice's wire format (ws_splice.hpp: binary = bytes, text "FIN" =
// half-close, close frame = the end), so the relay passes each message on as it came, type
// and all: the half-close of either end reaches the other end's splice unchanged, and the
// conductor never reads the bytes.
//
// Back-pressure as in the splice: one read in flight per direction, the next only once the
// last message was written to the other leg. A close frame, error or Stop() on either leg
// ends both (the other gets a close frame, bounded by close_timeout). Liveness: the board
// leg's agent pings it (ws_splice.hpp); the client's leg is pinged here every ping_interval
// and ended when two intervals bring nothing.
//
// Threading: every handler runs on the legs' executor (one io thread); Start() and Stop() too.
#pragma once

#include <any>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "common/net/leg_liveness.hpp"
#include "common/net/splice_observer.hpp"

namespace ew::net {

// The tunnels' half-close message (ws_splice.hpp's kSpliceFin, which this header does not
// include); the relay passes it on like any message and watches for it in both directions.
inline constexpr const char* kRelayFin = "FIN";

struct RelayOptions {
  size_t max_message_bytes = 1 << 20;  // largest message taken from either leg
  std::chrono::milliseconds close_timeout{5'000};
  std::chrono::milliseconds ping_interval{15'000};  // the client's leg; 0 = no pings
};

// `A` is the client's leg (its bytes count as "to_websocket" for the observer, as a service
// client's do in a splice), `B` the board's.
template <typename StreamA, typename StreamB>
class WsRelay final : public std::enable_shared_from_this<WsRelay<StreamA, StreamB>> {
 public:
  using LegA = boost::beast::websocket::stream<StreamA>;
  using LegB = boost::beast::websocket::stream<StreamB>;

  // Both legs are open (handshakes done) with nothing in flight. `keep` lives as long as the relay.
  WsRelay(LegA&& a, LegB&& b, RelayOptions options, std::shared_ptr<SpliceObserver> observer, std::any keep = {})
      : a_(std::move(a)),
        b_(std::move(b)),
        options_(options),
        observer_(std::move(observer)),
        close_deadline_(a_.get_executor()),
        ping_timer_(a_.get_executor()),
        keep_(std::move(keep)) {}

  void Start() {
    namespace websocket = boost::beast::websocket;
    Prepare(a_);
    Prepare(b_);
    a_.control_callback([this](websocket::frame_type, boost::beast::string_view) { liveness_.Heard(); });
    if (auto observer = observer_) {
      std::weak_ptr<WsRelay> weak = this->shared_from_this();
      observer->OnStart([weak](const std::string& reason) {
        if (auto self = weak.lock()) self->Stop(reason);
      });
      if (finished_) return;
    }
    Pump(a_, b_, a_in_, true);
    Pump(b_, a_, b_in_, false);
    SchedulePing();
  }

  // Ends both legs now (revocation, service deleted, conductor stopping).
  void Stop(const std::string& reason) { Abort(reason); }

 private:
  using error_code = boost::system::error_code;

  template <typename Leg>
  void Prepare(Leg& leg) {
    namespace websocket = boost::beast::websocket;
    leg.set_option(websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(),
                                                   false});
    leg.read_message_max(options_.max_message_bytes);
    leg.auto_fragment(false);
  }

  // Reads `from`'s next message and writes it to `to` as it came; then the next.
  template <typename From, typename To>
  void Pump(From& from, To& to, boost::beast::flat_buffer& buffer, bool from_client) {
    from.async_read(buffer, [self = this->shared_from_this(), &from, &to, &buffer, from_client](error_code ec, size_t) {
      if (self->finished_) return;
      if (from_client) self->liveness_.Heard();
      if (ec && self->ending_) {
        // Both FINs passed and the board's leg is closing (EndBoardLeg): its read ends with that
        // close; the client's ends with the client's own close frame, answered by Beast.
        (from_client ? self->client_closed_ : self->board_closed_) = true;
        if (self->client_closed_ && self->board_closed_) self->Abort("closed");
        return;
      }
      if (ec) {
        const std::string who = from_client ? "client" : "board";
        const std::string why = ec == boost::beast::websocket::error::closed ? "closed by the " + who
                                                                              : who + " leg: " + ec.message();
        return self->CloseOther(to, why);
      }
      to.binary(from.got_binary());
      const size_t n = buffer.size();
      const bool fin = !from.got_binary() && n == 3 && boost::beast::buffers_to_string(buffer.cdata()) == kRelayFin;
      to.async_write(buffer.cdata(), [self, &from, &to, &buffer, from_client, n, fin](error_code wec, size_t) {
        if (self->finished_) return;
        if (wec) return self->Abort(std::string(from_client ? "board" : "client") + " leg write: " + wec.message());
        if (self->observer_ && n > 0 && !fin) self->observer_->OnBytes(from_client, n);
        buffer.consume(buffer.size());
        buffer.shrink_to_fit();  // an idle relay keeps no message buffer
        if (fin) (from_client ? self->fin_from_client_ : self->fin_from_board_) = true;
        if (self->fin_from_client_ && self->fin_from_board_) return self->EndBoardLeg();
        self->Pump(from, to, buffer, from_client);
      });
    });
  }

  // Both directions said "FIN" (the tunnel's half-closes, ws_splice.hpp): the stream is over.
  // The relay is the conductor's side of the board's leg, which starts that leg's closing
  // handshake (the board's splice only answers one, SpliceOptions::starts_close_handshake), so
  // the board's tunnel ends now whatever the client does; the client's leg ends with the
  // client's close frame. Both within close_timeout. The reads still in flight end with them.
  void EndBoardLeg() {
    if (ending_ || closing_) return;
    ending_ = closing_ = true;
    close_deadline_.expires_after(options_.close_timeout);
    close_deadline_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec) self->Abort("closing handshake timed out");
    });
    b_.async_close(boost::beast::websocket::close_code::normal, [self = this->shared_from_this()](error_code) {
      self->board_closed_ = true;
      if (self->client_closed_) self->Abort("closed");
    });
  }

  // One leg ended: the other gets a close frame (within close_timeout), then both are closed.
  template <typename To>
  void CloseOther(To& to, const std::string& reason) {
    if (closing_) return Abort(reason);
    closing_ = true;
    close_deadline_.expires_after(options_.close_timeout);
    close_deadline_.async_wait([self = this->shared_from_this(), reason](error_code ec) {
      if (!ec) self->Abort(reason);
    });
    to.async_close(boost::beast::websocket::close_code::normal,
                   [self = this->shared_from_this(), reason](error_code) { self->Abort(reason); });
  }

  void SchedulePing() {
    if (options_.ping_interval.count() <= 0 || finished_ || closing_) return;
    ping_timer_.expires_after(options_.ping_interval);
    ping_timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->finished_ || self->closing_) return;
      switch (self->liveness_.Tick(/*can_hear=*/true)) {
        case LegLiveness::Action::kDead:
          return self->Abort("the client's leg answered no ping");
        case LegLiveness::Action::kPing:
          self->a_.async_ping({}, [self](error_code) {});
          break;
        case LegLiveness::Action::kNothing:
          break;
      }
      self->SchedulePing();
    });
  }

  void Abort(const std::string& reason) {
    if (finished_) return;
    finished_ = true;
    close_deadline_.cancel();
    ping_timer_.cancel();
    error_code ignored;
    auto& a = boost::beast::get_lowest_layer(a_).socket();
    a.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    a.close(ignored);
    auto& b = boost::beast::get_lowest_layer(b_).socket();
    b.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    b.close(ignored);
    if (auto observer = std::move(observer_)) observer->OnEnd(reason);
  }

  LegA a_;
  LegB b_;
  RelayOptions options_;
  std::shared_ptr<SpliceObserver> observer_;
  boost::asio::steady_timer close_deadline_;
  boost::asio::steady_timer ping_timer_;
  LegLiveness liveness_;
  std::any keep_;
  // The message in flight from the client, and from the board; bounded so that a message cut
  // into many frames cannot grow either past the message limit (Beast doubles capacity).
  boost::beast::flat_buffer a_in_{options_.max_message_bytes};
  boost::beast::flat_buffer b_in_{options_.max_message_bytes};
  bool fin_from_client_ = false;  // a "FIN" went from the client to the board
  bool fin_from_board_ = false;   // and one the other way
  bool ending_ = false;           // both did: EndBoardLeg
  bool client_closed_ = false;    // ... the client's leg ended
  bool board_closed_ = false;     // ... the board's leg ended
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace ew::net
