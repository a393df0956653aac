// One WAMP WebSocket connection on the conductor's port, made from an HTTP connection's upgrade
// request (http_session.hpp): subprotocol already chosen, frames to and from the router's
// TransportHandler, ping/pong liveness, an ordered write queue with a cap on what the peer has
// not read. Internal to cloud-conductor/server.
//
// Writes: frames go out together, framed here and written as one gather write through
// net::OrderedWriteStream (one sendmsg, one wake-up of the peer, instead of one per frame through
// Beast's async_write; see that header for why Beast's own pongs and close frames cannot
// interleave with them). A batch is what is queued while a write is in flight, or while the
// router is still being handed frames other sessions read in the same burst (a caller's 64
// CALLs arrive in one TCP read and become 64 INVOCATIONs for one board).
// - Frames queued while this server routes a frame some session read: once the router returns,
//   the reading session flushes them at once, before it reads again, when it has no whole
//   message more in hand (its WsMessageCounter, fed every byte it reads, against the messages
//   Beast has delivered). So a lone CALL's INVOCATION leaves before the reader's next read
//   and before the io_context polls for events again: nothing but the routing lies between
//   the peer's frame and ours.
// - Otherwise (more messages in hand, or frames queued outside any read: REST, timers) the
//   flush is posted, and posted again while the server's count of frames read keeps moving (at
//   most kMaxFlushYields times and kMaxFlushDelay, so a busy conductor with long handler queues
//   still sends within a bounded time), so a burst leaves in one write.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/websocket.hpp>

#include "cloud-conductor/router/transport.hpp"
#include "cloud-conductor/server/server_impl.hpp"
#include "common/net/ordered_write_stream.hpp"
#include "common/net/ws_message_counter.hpp"

namespace ew::server {

namespace http = beast::http;
namespace websocket = beast::websocket;

// One WAMP WebSocket connection.
//
// Deadlines (opening handshake, heartbeat, closing handshake) are our own timer, never Beast's
// stream timeouts: Beast 1.74 delivers its closing-handshake timeout to a read parked behind
// async_close and asserts (impl/read.hpp, `ec == operation_aborted`), so a peer that answers the
// close frame and then holds TCP open could abort the conductor. When our deadline passes we
// close the socket; every pending Beast operation then ends with an ordinary error.
template <typename Stream>
class WsSession final : public router::Transport,
                        public HeartbeatWheel::Member,
                        public ReadFlushTarget,
                        private ew::net::ReadObserver,
                        public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  using std::enable_shared_from_this<WsSession<Stream>>::shared_from_this;

  WsSession(Stream&& stream, std::shared_ptr<Server::Impl> server, wamp::Serializer serializer, std::string peer,
            Ticket ticket, std::shared_ptr<ssl::context> tls)
      : ws_(std::move(stream)), server_(std::move(server)), serializer_(serializer), peer_(std::move(peer)),
        deadline_(ws_.get_executor()), ticket_(std::move(ticket)), tls_(std::move(tls)) {
    ws_.next_layer().ObserveReads(this);
  }
  ~WsSession() override {
    server_->heartbeat.Remove(this);
    server_->sessions.erase(this);
  }

  void Run(http::request<http::string_body> req) {
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(),
                                                   false});
    ws_.read_message_max(server_->options.max_message_bytes);
    ws_.auto_fragment(false);
    std::string proto(wamp::SubprotocolName(serializer_));
    ws_.set_option(websocket::stream_base::decorator([proto](websocket::response_type& res) {
      res.set(http::field::sec_websocket_protocol, proto);
      res.set(http::field::server, "edgewire-conductor");
    }));
    // Any control frame (a pong above all) proves the peer is alive. A peer that pings us itself
    // is never silent, so the wheel never pings it, and it would never hear that the heartbeat's
    // terms moved: it gets a ping that says so (posted: Beast is inside its read here).
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      last_heard_ = Now();
      if (kind == websocket::frame_type::ping && told_ && wamp::HeartbeatMoved(*told_, server_->HeartbeatTerms()))
        net::post(ws_.get_executor(), [self = shared_from_this()] {
          if (self->SendPing()) Server::Impl::Count(self->server_->heartbeat_pings);
        });
    });
    ws_.binary(wamp::IsBinary(serializer_));
    ArmDeadline(server_->options.handshake_timeout, "opening handshake timed out");
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) { self->OnAccept(ec); });
  }

  // Called for WELCOME: what it tells the peer is remembered (told_).
  std::optional<wamp::HeartbeatTerms> TellHeartbeat() override {
    told_ = server_->HeartbeatTerms();
    return told_;
  }

  void Send(std::string frame) override {
    if (finished_ || close_requested_) return;
    queued_bytes_ += frame.size();
    if (queued_bytes_ > server_->options.max_queued_bytes) {
      Log()->warn("connection from {} is not reading: {} bytes queued, disconnecting", peer_, queued_bytes_);
      // Drop the socket now (a close handshake would wait behind the backlog). The write in
      // flight still owns queue_.front(): its failure runs Finish(), which frees the backlog.
      close_requested_ = true;
      Drop();
      return;
    }
    queue_.push_back(std::move(frame));
    if (writing_ || flush_posted_) return;
    if (server_->routing_read) {
      flush_posted_ = true;  // not posted: the reading session calls FlushAfterRead
      server_->flush_after_read.push_back(shared_from_this());
    } else {
      PostFlush(0);
    }
  }

  void FlushAfterRead(bool more_buffered) override {
    flush_posted_ = false;
    if (finished_) return;
    if (more_buffered) return PostFlush(0);
    if (writing_) return;
    WriteQueuedOrClose();
  }

  void Close(const std::string& reason) override {
    if (finished_ || close_requested_) return;
    close_requested_ = true;
    close_reason_ = reason;
    // Queued frames (an ABORT, a GOODBYE) go first: OnFlush or OnWrite closes after them.
    if (!writing_ && !flush_posted_ && queue_.empty()) DoClose();
  }

  wamp::Serializer serializer() const override { return serializer_; }
  const std::string& peer() const override { return peer_; }

 private:
  using Clock = std::chrono::steady_clock;
  static Clock::time_point Now() { return Clock::now(); }

  void OnAccept(beast::error_code ec) {
    if (ec) {
      Log()->debug("websocket handshake from {} failed: {}", peer_, ec.message());
      Finish();
      return;
    }
    last_heard_ = Now();
    deadline_.cancel();  // the opening handshake's; the server's heartbeat wheel watches it from here
    server_->WatchHeartbeat(this);
    server_->sessions.insert(this);
    handler_ = server_->accept(shared_from_this());
    DoRead();
  }

  // The heartbeat (HeartbeatWheel, one timer for the server): silent for the interval → a ping
  // (its pong, like any frame, counts as heard); silent for the timeout → dropped. A close the
  // peer started is answered inside the pending read, which then waits for the peer to end TCP:
  // the heartbeat still bounds that wait. Our own close handshake has its deadline instead.
  HeartbeatWheel::TimePoint HeartbeatLastHeard() const override { return last_heard_; }
  void HeartbeatPing() override { SendPing(); }
  // A ping whose payload tells the peer its current terms; false when none went (closing, or
  // one already on its way).
  bool SendPing() {
    if (finished_ || closing_ || pinging_ || !ws_.is_open()) return false;
    pinging_ = true;
    // The payload tells the peer the terms it is held to now (they stretch with the sessions).
    told_ = server_->HeartbeatTerms();
    const std::string terms = wamp::HeartbeatPingPayload(*told_);
    ws_.async_ping(websocket::ping_data(terms.data(), terms.size()),
                   [self = shared_from_this()](beast::error_code) { self->pinging_ = false; });
    return true;
  }
  void HeartbeatExpired() override {
    if (finished_ || closing_) return;
    Log()->debug("connection from {} silent for {} ms, dropping", peer_,
                 std::chrono::duration_cast<std::chrono::milliseconds>(Now() - last_heard_).count());
    Drop();
  }

  void ServerStopping() override {
    // The router's session holds this transport and this holds it (handler_): Finish breaks
    // that cycle now, which a completion after io.stop() never would (LSan saw it at exit).
    Drop();
    Finish();
  }

  // One deadline for a handshake; past it the socket is closed.
  void ArmDeadline(std::chrono::steady_clock::duration after, const char* why) {
    deadline_.expires_after(after);
    deadline_.async_wait([self = shared_from_this(), why](beast::error_code ec) {
      if (ec || self->finished_) return;
      Log()->debug("connection from {}: {}", self->peer_, why);
      self->Drop();
    });
  }

  void DoRead() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::message_too_big)
        Log()->info("session from {} closed: message over {} bytes", peer_, server_->options.max_message_bytes);
      else if (ec != websocket::error::closed && ec != net::error::operation_aborted)
        Log()->debug("connection from {} ended: {}", peer_, ec.message());
      Finish();
      return;
    }
    last_heard_ = Now();
    server_->ws_frames_read.fetch_add(1, std::memory_order_relaxed);
    ++messages_delivered_;
    auto data = buffer_.cdata();
    std::string_view frame(static_cast<const char*>(data.data()), data.size());
    if (handler_) {
      server_->routing_read = true;
      struct Done {
        Server::Impl& server;
        ~Done() { server.routing_read = false; }
      } done{*server_};
      handler_->OnFrame(frame);
    }
    buffer_.consume(buffer_.size());
    FlushWhatTheReadQueued();
    if (!finished_ && !closing_) DoRead();
  }

  // The sessions the frame just routed gave frames to: written now, unless Beast holds a whole
  // message more of this peer's (a burst: their flushes are posted, to gather the rest).
  void FlushWhatTheReadQueued() {
    if (server_->flush_after_read.empty()) return;
    const bool more_buffered = counted_.messages() > messages_delivered_;
    flushing_.swap(server_->flush_after_read);
    for (auto& target : flushing_) target->FlushAfterRead(more_buffered);
    flushing_.clear();
  }

  void BytesRead(const char* data, size_t n) override { counted_.Feed(data, n); }

  void PostFlush(int yields) {
    if (yields == 0) flush_since_ = Now();
    flush_posted_ = true;
    const uint64_t seen = server_->ws_frames_read.load(std::memory_order_relaxed);
    net::post(ws_.get_executor(), [self = shared_from_this(), seen, yields] { self->OnFlush(seen, yields); });
  }

  void OnFlush(uint64_t seen, int yields) {
    if (finished_) return;
    const bool reads_moving = server_->ws_frames_read.load(std::memory_order_relaxed) != seen;
    if (reads_moving && yields < kMaxFlushYields && queue_.size() < kMaxBatchFrames &&
        Now() - flush_since_ < kMaxFlushDelay)
      return PostFlush(yields + 1);
    flush_posted_ = false;
    if (writing_) return;
    WriteQueuedOrClose();
  }

  // What an idle writer does next: the queued frames, or the close that waited for them.
  void WriteQueuedOrClose() {
    if (!queue_.empty()) {
      DoWrite();
    } else if (close_requested_) {
      DoClose();
    }
  }

  // Writes every queued frame (up to kMaxBatchFrames) in one gather write. Frames of up to
  // kCopyBelow bytes are copied behind their headers into one buffer (asio gathers at most 64
  // buffers per sendmsg); larger ones are written from the queue where they are.
  void DoWrite() {
    // A close frame went out (Beast answers the peer's close inside the read, which then
    // ends): no data frame may follow it. The read's end runs Finish(), which frees the queue.
    if (!ws_.is_open()) return;
    writing_ = true;
    batch_frames_ = std::min(queue_.size(), kMaxBatchFrames);
    const auto opcode = static_cast<char>(wamp::IsBinary(serializer_) ? 0x82 : 0x81);  // FIN + binary/text
    batch_bytes_.clear();
    batch_ends_.clear();
    for (size_t i = 0; i < batch_frames_; ++i) {
      const std::string& frame = queue_[i];
      AppendFrameHeader(batch_bytes_, opcode, frame.size());
      if (frame.size() < kCopyBelow) {
        batch_bytes_ += frame;
      } else {
        batch_ends_.push_back({batch_bytes_.size(), i});
      }
    }
    batch_buffers_.clear();
    size_t from = 0;
    for (auto [end, frame] : batch_ends_) {
      batch_buffers_.push_back(net::buffer(batch_bytes_.data() + from, end - from));
      batch_buffers_.push_back(net::buffer(queue_[frame]));
      from = end;
    }
    if (from < batch_bytes_.size()) batch_buffers_.push_back(net::buffer(batch_bytes_.data() + from, batch_bytes_.size() - from));
    ws_.next_layer().async_write_some(batch_buffers_,
                                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  // RFC 6455 §5.2, server to client: FIN and opcode, no mask, the shortest length encoding.
  static void AppendFrameHeader(std::string& out, char opcode, size_t size) {
    out += opcode;
    if (size < 126) {
      out += static_cast<char>(size);
    } else if (size <= 0xffff) {
      out += static_cast<char>(126);
      for (int shift = 8; shift >= 0; shift -= 8) out += static_cast<char>((size >> shift) & 0xff);
    } else {
      out += static_cast<char>(127);
      for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((uint64_t{size} >> shift) & 0xff);
    }
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      queue_.clear();
      queued_bytes_ = 0;
      Finish();
      return;
    }
    if (queue_.empty()) return;  // dropped by the backlog limit
    for (size_t i = 0; i < batch_frames_; ++i) {
      queued_bytes_ -= queue_.front().size();
      queue_.pop_front();
    }
    WriteQueuedOrClose();
  }

  void DoClose() {
    if (closing_ || socket_closed_) return;
    closing_ = true;
    server_->heartbeat.Remove(this);
    ArmDeadline(server_->options.handshake_timeout, "closing handshake timed out");
    ws_.async_close(websocket::close_reason(websocket::close_code::normal, close_reason_),
                    [self = shared_from_this()](beast::error_code) {
                      self->Finish();
                      self->Drop();
                    });
  }

  // Closes the socket: every pending operation completes with an error, then Finish() runs.
  // With TLS too: the TLS layer's reads and writes sit on the socket, and fail with it.
  void Drop() {
    if (socket_closed_) return;
    socket_closed_ = true;
    CloseSocket(ws_);
    deadline_.cancel();
    server_->heartbeat.Remove(this);
  }

  // Tells the router once that this connection is gone, whatever ended it.
  void Finish() {
    if (finished_) return;
    finished_ = true;
    // A write in flight still reads queue_.front(): its completion frees the rest.
    if (!writing_) queue_.clear();
    if (auto handler = std::move(handler_)) handler->OnClose();
    // The socket stays open while our closing handshake is under way (its deadline bounds it);
    // otherwise nothing more will be read or written on it.
    if (!closing_) Drop();
  }

  // Frames per gather write: bounds the batch's buffer list and copy.
  static constexpr size_t kMaxBatchFrames = 256;
  static constexpr int kMaxFlushYields = 64;  // posts a flush waits at most for reads to settle
  static constexpr std::chrono::microseconds kMaxFlushDelay{200};  // and for how long at most
  static constexpr size_t kCopyBelow = 2048;  // bytes; larger frames are not copied into the batch

  ew::net::WsMessageCounter counted_;  // data messages whose last byte Beast has read (ReadObserver)
  uint64_t messages_delivered_ = 0;    // those Beast has handed OnRead
  std::vector<std::shared_ptr<ReadFlushTarget>> flushing_;  // FlushWhatTheReadQueued's list (kept for its capacity)
  websocket::stream<ew::net::OrderedWriteStream<Stream>> ws_;
  std::shared_ptr<Server::Impl> server_;
  wamp::Serializer serializer_;
  std::string peer_;
  net::steady_timer deadline_;  // opening or closing handshake deadline (the heartbeat is the server's wheel)
  Clock::time_point last_heard_{};
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  // The write in flight: how many frames of queue_ it carries, their headers and copied bodies,
  // where uncopied frames go between them (offset in batch_bytes_, index in queue_), the buffers.
  size_t batch_frames_ = 0;
  std::string batch_bytes_;
  std::vector<std::pair<size_t, size_t>> batch_ends_;
  std::vector<net::const_buffer> batch_buffers_;
  size_t queued_bytes_ = 0;
  std::shared_ptr<router::TransportHandler> handler_;
  std::string close_reason_;
  bool writing_ = false;
  bool flush_posted_ = false;
  Clock::time_point flush_since_{};  // when the posted flush was first posted
  bool pinging_ = false;
  // The heartbeat terms the peer was last told (WELCOME, a ping); none before either.
  std::optional<wamp::HeartbeatTerms> told_;
  bool close_requested_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool socket_closed_ = false;
  Ticket ticket_;                     // this connection's place under the connection caps
  std::shared_ptr<ssl::context> tls_;  // the context the TLS stream was made from (null: plain)
};

}  // namespace ew::server
