// Beast listener, HTTP sessions (keep-alive, body limits, JSON errors) and WebSocket sessions
// (subprotocol negotiation, ping/pong liveness, ordered write queue) of the conductor's port.
#include "cloud-conductor/server/server.hpp"

#include <algorithm>
#include <atomic>
#include <deque>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "common/log/log.hpp"

namespace ew::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = log::Get("server");
  return logger;
}

std::string PeerOf(const tcp::socket& socket) {
  beast::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "?";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

int FromHex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of a path or query component ('+' is a space only in queries).
std::string Decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int hi = FromHex(in[i + 1]);
      int lo = FromHex(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && in[i] == '+') ? ' ' : in[i];
  }
  return out;
}

HttpRequest ToHttpRequest(http::request<http::string_body>&& req, const std::string& peer) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  std::string_view target(req.target().data(), req.target().size());
  auto q = target.find('?');
  out.path = Decode(target.substr(0, q), false);
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      auto eq = pair.find('=');
      if (!pair.empty()) {
        out.query[Decode(pair.substr(0, eq), true)] =
            eq == std::string_view::npos ? "" : Decode(pair.substr(eq + 1), true);
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(req.body());
  out.peer = peer;
  return out;
}

HttpResponse JsonError(int status, ErrorCode code, std::string message) {
  HttpResponse r;
  r.status = status;
  r.body = ErrorJson(Error{code, std::move(message)});
  return r;
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(net::io_context& io, ServerOptions o, HttpHandler& h, WampAccept a)
      : io(io), options(std::move(o)), http(h), accept(std::move(a)), acceptor(io) {}

  net::io_context& io;
  ServerOptions options;
  HttpHandler& http;
  WampAccept accept;
  tcp::acceptor acceptor;
  net::steady_timer accept_pause{io};
  bool stopped = false;

  void DoAccept();
};

namespace {

// One WAMP WebSocket connection.
//
// Deadlines (opening handshake, heartbeat, closing handshake) are our own timer, never Beast's
// stream timeouts: Beast 1.74 delivers its closing-handshake timeout to a read parked behind
// async_close and asserts (impl/read.hpp, `ec == operation_aborted`), so a peer that answers the
// close frame and then holds TCP open could abort the conductor. When our deadline passes we
// close the socket; every pending Beast operation then ends with an ordinary error.
class WsSession final : public router::Transport, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket&& socket, std::shared_ptr<Server::Impl> server, wamp::Serializer serializer, std::string peer)
      : ws_(std::move(socket)), server_(std::move(server)), serializer_(serializer), peer_(std::move(peer)),
        deadline_(ws_.get_executor()) {}

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
    // Any control frame (a pong above all) proves the peer is alive.
    ws_.control_callback([this](websocket::frame_type, beast::string_view) { last_heard_ = Now(); });
    ws_.binary(wamp::IsBinary(serializer_));
    ArmDeadline(server_->options.handshake_timeout, "opening handshake timed out");
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) { self->OnAccept(ec); });
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
    if (!writing_) DoWrite();
  }

  void Close(const std::string& reason) override {
    if (finished_ || close_requested_) return;
    close_requested_ = true;
    close_reason_ = reason;
    if (!writing_) DoClose();
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
    ArmHeartbeat();
    handler_ = server_->accept(shared_from_this());
    DoRead();
  }

  // The heartbeat: a tick every half timeout; a tick that finds the peer silent for a quarter
  // timeout or more pings it (so a ping goes out at least once per half timeout of silence and
  // its pong has the rest to arrive); a peer silent for the whole timeout is dropped.
  void ArmHeartbeat() {
    const auto half = server_->options.heartbeat_timeout / 2;
    deadline_.expires_after(half);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      // A close the peer started is answered inside the pending read, which then waits for the
      // peer to end TCP: the heartbeat still bounds that wait.
      if (ec || self->finished_ || self->closing_) return;
      const auto silent = Now() - self->last_heard_;
      if (silent >= self->server_->options.heartbeat_timeout) {
        Log()->debug("connection from {} silent for {} ms, dropping", self->peer_,
                     std::chrono::duration_cast<std::chrono::milliseconds>(silent).count());
        return self->Drop();
      }
      if (silent >= self->server_->options.heartbeat_timeout / 4 && !self->pinging_ && self->ws_.is_open()) {
        self->pinging_ = true;
        self->ws_.async_ping({}, [self](beast::error_code) { self->pinging_ = false; });
      }
      self->ArmHeartbeat();
    });
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
    auto data = buffer_.cdata();
    std::string_view frame(static_cast<const char*>(data.data()), data.size());
    if (handler_) handler_->OnFrame(frame);
    buffer_.consume(buffer_.size());
    if (!finished_ && !closing_) DoRead();
  }

  void DoWrite() {
    writing_ = true;
    ws_.async_write(net::buffer(queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
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
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
    if (!queue_.empty()) {
      DoWrite();
    } else if (close_requested_) {
      DoClose();
    }
  }

  void DoClose() {
    if (closing_ || socket_closed_) return;
    closing_ = true;
    ArmDeadline(server_->options.handshake_timeout, "closing handshake timed out");
    ws_.async_close(websocket::close_reason(websocket::close_code::normal, close_reason_),
                    [self = shared_from_this()](beast::error_code) {
                      self->Finish();
                      self->Drop();
                    });
  }

  // Closes the socket: every pending operation completes with an error, then Finish() runs.
  void Drop() {
    if (socket_closed_) return;
    socket_closed_ = true;
    beast::error_code ignored;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    deadline_.cancel();
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

  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<Server::Impl> server_;
  wamp::Serializer serializer_;
  std::string peer_;
  net::steady_timer deadline_;  // handshake, heartbeat or closing deadline: one at a time
  Clock::time_point last_heard_{};
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  std::shared_ptr<router::TransportHandler> handler_;
  std::string close_reason_;
  bool writing_ = false;
  bool pinging_ = false;
  bool close_requested_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool socket_closed_ = false;
};

// One HTTP/1.1 connection: requests are answered in order, one at a time, with keep-alive. A
// streamed response (HttpResponse::stream) is the connection's last: its body is written chunk
// by chunk until it ends, and a read stays pending meanwhile to notice the client hanging up.
class HttpSession final : public StreamWriter, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, std::shared_ptr<Server::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    peer_ = PeerOf(stream_.socket());
  }

  void Run() { DoRead(); }

  // StreamWriter (any thread).
  bool Write(std::string chunk) override {
    if (stream_over_) return false;
    if (backlog_.fetch_add(1) + 1 > stream_options_max_backlog_) {
      stream_over_ = true;
      net::post(server_->io, [self = shared_from_this()] {
        self->FinishStream("the client fell more than " + std::to_string(self->stream_options_.max_backlog) +
                           " chunks behind");
      });
      return false;
    }
    net::post(server_->io, [self = shared_from_this(), chunk = std::move(chunk)]() mutable {
      self->QueueChunk(std::move(chunk), /*counted=*/true);
    });
    return true;
  }

  void End() override {
    net::post(server_->io, [self = shared_from_this()] {
      if (self->stream_finished_ || self->end_requested_) return;
      self->end_requested_ = true;
      if (!self->chunk_writing_) self->WriteNextChunk();
    });
  }

 private:
  void DoRead() {
    parser_.emplace();
    body_limit_ = server_->options.max_http_body_bytes;
    parser_->body_limit(body_limit_);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(server_->options.http_idle_timeout);
    // The header first: its path decides how large a body may follow.
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnRead(ec);
    const auto target = parser_->get().target();
    const auto path = target.substr(0, target.find('?'));
    for (const auto& large : server_->options.large_body_paths) {
      if (path == large) {
        body_limit_ = server_->options.max_large_http_body_bytes;
        parser_->body_limit(body_limit_);
      }
    }
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout) return Shutdown();
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      drain_after_write_ = true;
      version_ = 11;
      return Write(JsonError(413, ErrorCode::kInvalidArgument,
                             "request body over " + std::to_string(body_limit_) + " bytes"));
    }
    if (ec) {
      Log()->debug("http read from {} failed: {}", peer_, ec.message());
      if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
        keep_alive_ = false;
        version_ = 11;
        return Write(JsonError(400, ErrorCode::kInvalidArgument, "malformed HTTP request: " + ec.message()));
      }
      return Shutdown();
    }
    auto req = parser_->release();
    if (websocket::is_upgrade(req)) return Upgrade(std::move(req));
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    auto self = shared_from_this();
    server_->http.Handle(ToHttpRequest(std::move(req), peer_), [self](HttpResponse response) {
      // The handler may answer from the blocking pool: hop back to the io thread.
      auto& io = self->server_->io;
      net::post(io, [self, response = std::move(response)]() mutable { self->Write(std::move(response)); });
    });
  }

  void Upgrade(http::request<http::string_body> req) {
    if (req.target() != "/ws" && req.target() != "/ws/") {
      keep_alive_ = false;
      return Write(JsonError(404, ErrorCode::kNotFound, "WebSocket endpoint is /ws"));
    }
    std::optional<wamp::Serializer> chosen;
    auto offered_header = req[http::field::sec_websocket_protocol];
    std::string_view offered(offered_header.data(), offered_header.size());
    // Take the client's first preference that we speak.
    while (!offered.empty() && !chosen) {
      auto comma = offered.find(',');
      std::string_view item = offered.substr(0, comma);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      chosen = wamp::SerializerFromSubprotocol(item);
      if (comma == std::string_view::npos) break;
      offered.remove_prefix(comma + 1);
    }
    if (!chosen) {
      keep_alive_ = false;
      return Write(JsonError(400, ErrorCode::kInvalidArgument,
                             "no supported WAMP subprotocol offered (use wamp.2.json or wamp.2.msgpack)"));
    }
    stream_.expires_never();
    auto ws = std::make_shared<WsSession>(stream_.release_socket(), server_, *chosen, peer_);
    ws->Run(std::move(req));
  }

  void Write(HttpResponse response) {
    if (response.stream) return StartStream(std::move(response));
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(response.status));
    res->set(http::field::server, "edgewire-conductor");
    if (!response.content_type.empty()) res->set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) res->set(name, value);
    res->body() = std::move(response.body);
    res->keep_alive(keep_alive_);
    res->prepare_payload();
    stream_.expires_after(server_->options.http_idle_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec || !self->keep_alive_) {
        self->Shutdown();
        if (!ec && self->drain_after_write_) self->Drain();
        return;
      }
      self->DoRead();
    });
  }

  void Shutdown() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // After refusing a body (413) the client is usually still sending it. Closing with unread
  // data would reset the connection and could destroy the answer before the client reads it,
  // so read and drop what still comes, within a cap and a time limit (a lingering close).
  void Drain() {
    constexpr size_t kMaxDrainBytes = 64u << 20;
    stream_.expires_after(std::chrono::seconds(10));
    drain_buffer_.resize(64 * 1024);
    stream_.async_read_some(net::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_bytes_ += n;
      if (ec || self->drained_bytes_ > kMaxDrainBytes) return;
      self->Drain();
    });
  }

  // ---- streamed responses (io thread) ----

  void StartStream(HttpResponse response) {
    stream_handler_ = std::move(response.stream);
    stream_options_ = std::move(response.stream_options);
    stream_options_max_backlog_ = std::max<size_t>(1, stream_options_.max_backlog);
    // HTTP/1.0 has no chunked encoding: the body then ends when the connection closes.
    chunked_ = version_ >= 11;
    auto res = std::make_shared<http::response<http::empty_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(response.status));
    res->set(http::field::server, "edgewire-conductor");
    if (!response.content_type.empty()) res->set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) res->set(name, value);
    res->keep_alive(false);
    if (chunked_) res->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    stream_.expires_after(server_->options.http_idle_timeout);
    http::async_write_header(stream_, *serializer,
                             [self = shared_from_this(), res, serializer](beast::error_code ec, size_t) {
                               if (ec) return self->FinishStream("the client went away: " + ec.message());
                               self->OpenStream();
                             });
  }

  void OpenStream() {
    // No deadline on the pending read that watches for a hang-up; each write gets its own.
    stream_.expires_never();
    stream_open_ = true;
    WatchForHangUp();
    last_chunk_at_ = std::chrono::steady_clock::now();
    ArmIdleTimer();
    Log()->debug("stream to {} open", peer_);
    stream_handler_->OnOpen(shared_from_this());
    if (!chunk_writing_) WriteNextChunk();
  }

  void WatchForHangUp() {
    hangup_buffer_.resize(512);
    stream_.async_read_some(net::buffer(hangup_buffer_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->stream_finished_) return;
      if (ec) return self->FinishStream("the client closed the stream");
      self->WatchForHangUp();  // a client has nothing to say during a stream: ignore it
    });
  }

  void ArmIdleTimer() {
    if (stream_options_.idle_chunk.empty()) return;
    idle_timer_.expires_at(last_chunk_at_ + stream_options_.idle_interval);
    idle_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stream_finished_ || self->end_requested_) return;
      if (std::chrono::steady_clock::now() >= self->last_chunk_at_ + self->stream_options_.idle_interval)
        self->QueueChunk(self->stream_options_.idle_chunk, /*counted=*/false);
      self->ArmIdleTimer();
    });
  }

  void QueueChunk(std::string chunk, bool counted) {
    if (stream_finished_ || end_requested_) {
      if (counted) --backlog_;
      return;
    }
    last_chunk_at_ = std::chrono::steady_clock::now();
    chunks_.push_back(Chunk{std::move(chunk), counted});
    if (!chunk_writing_ && stream_open_) WriteNextChunk();
  }

  void WriteNextChunk() {
    if (stream_finished_) return;
    if (chunks_.empty()) {
      if (!end_requested_) return;
      chunk_writing_ = true;
      stream_.expires_after(server_->options.http_idle_timeout);
      auto done = [self = shared_from_this()](beast::error_code ec, size_t) {
        self->chunk_writing_ = false;
        self->FinishStream(ec ? "the last write failed: " + ec.message() : "ended");
      };
      if (chunked_) return net::async_write(stream_, http::make_chunk_last(), std::move(done));
      return done(beast::error_code{}, 0);
    }
    chunk_writing_ = true;
    // A client that stops reading blocks the write; after the idle timeout it is dropped.
    stream_.expires_after(server_->options.http_idle_timeout);
    auto done = [self = shared_from_this()](beast::error_code ec, size_t) {
      self->chunk_writing_ = false;
      if (!self->chunks_.empty()) {
        if (self->chunks_.front().counted) --self->backlog_;
        self->chunks_.pop_front();
      }
      if (ec) return self->FinishStream("a write failed: " + ec.message());
      self->WriteNextChunk();
    };
    const std::string& data = chunks_.front().data;
    if (chunked_) return net::async_write(stream_, http::make_chunk(net::buffer(data)), std::move(done));
    net::async_write(stream_, net::buffer(data), std::move(done));
  }

  // Ends the stream once, whatever ended it, and tells the handler.
  void FinishStream(const std::string& reason) {
    if (stream_finished_) return;
    stream_finished_ = true;
    stream_over_ = true;
    idle_timer_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    // A write in flight still reads chunks_.front(): its completion finds the stream finished.
    if (!chunk_writing_) chunks_.clear();
    Log()->debug("stream to {} over: {}", peer_, reason);
    if (auto handler = std::move(stream_handler_)) handler->OnClose(reason);
  }

  struct Chunk {
    std::string data;
    bool counted = false;  // a Write() (not an idle chunk): part of the backlog
  };

  beast::tcp_stream stream_;
  std::shared_ptr<Server::Impl> server_;
  std::string peer_;
  beast::flat_buffer buffer_;
  // Streamed response state. stream_over_ and backlog_ are read by Write() on any thread.
  std::shared_ptr<StreamHandler> stream_handler_;
  StreamOptions stream_options_;
  size_t stream_options_max_backlog_ = 1;
  std::atomic<bool> stream_over_{false};
  std::atomic<size_t> backlog_{0};
  std::deque<Chunk> chunks_;
  std::vector<char> hangup_buffer_;
  net::steady_timer idle_timer_{stream_.get_executor()};
  std::chrono::steady_clock::time_point last_chunk_at_;
  bool chunked_ = true;
  bool stream_open_ = false;
  bool chunk_writing_ = false;
  bool end_requested_ = false;
  bool stream_finished_ = false;
  std::optional<http::request_parser<http::string_body>> parser_;
  size_t body_limit_ = 0;  // of the request being read
  bool drain_after_write_ = false;
  std::vector<char> drain_buffer_;
  size_t drained_bytes_ = 0;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

}  // namespace

void Server::Impl::DoAccept() {
  acceptor.async_accept(io, [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped) return;
    if (ec) {
      // Out of descriptors: pause before accepting again instead of spinning on EMFILE.
      Log()->warn("accept failed: {}; pausing accepts for 500 ms", ec.message());
      self->accept_pause.expires_after(std::chrono::milliseconds(500));
      self->accept_pause.async_wait([self](beast::error_code wait_ec) {
        if (!wait_ec && !self->stopped) self->DoAccept();
      });
      return;
    } else {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<HttpSession>(std::move(socket), self)->Run();
    }
    self->DoAccept();
  });
}

Server::Server(net::io_context& io, ServerOptions options, HttpHandler& http, WampAccept accept)
    : impl_(std::make_shared<Impl>(io, std::move(options), http, std::move(accept))) {}

Server::~Server() { Stop(); }

Result<uint16_t> Server::Start() {
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->options.address, ec);
  if (ec) return InvalidArgument("bad listen address \"" + impl_->options.address + "\": " + ec.message());
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + impl_->options.address + ":" + std::to_string(impl_->options.port) +
                       ": " + ec.message());
  }
  impl_->DoAccept();
  return acceptor.local_endpoint().port();
}

void Server::Stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace ew::server
