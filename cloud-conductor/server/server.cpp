// Beast listener, HTTP sessions (keep-alive, admission on the header, body limits and
// deadlines, JSON errors) and WebSocket sessions (subprotocol negotiation, ping/pong liveness,
// ordered write queue) of the conductor's port. Each session is a template over its stream:
// beast::tcp_stream (plain) or beast::ssl_stream<beast::tcp_stream> (TLS); deadlines are the
// tcp_stream's (HTTP) or our own timer (WebSocket), and both end by closing the TCP socket,
// which ends every pending operation of either stream kind.
#include "cloud-conductor/server/server.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <limits>
#include <optional>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "cloud-conductor/server/connection_limiter.hpp"
#include "cloud-conductor/server/tls_context.hpp"
#include "common/log/log.hpp"
#include "common/metrics/metrics.hpp"
#include "common/net/loopback.hpp"

namespace ew::server {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
template <typename Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = log::Get("server");
  return logger;
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

HttpRequestHead HeadOf(const http::request_header<>& req, const std::string& peer) {
  HttpRequestHead out;
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
  out.peer = peer;
  return out;
}

HttpRequest ToHttpRequest(HttpRequestHead&& head, std::string&& body, std::any&& admission) {
  HttpRequest out;
  out.method = std::move(head.method);
  out.target = std::move(head.target);
  out.path = std::move(head.path);
  out.query = std::move(head.query);
  out.headers = std::move(head.headers);
  out.peer = std::move(head.peer);
  out.body = std::move(body);
  out.admission = std::move(admission);
  return out;
}

HttpResponse JsonError(int status, ErrorCode code, std::string message) {
  HttpResponse r;
  r.status = status;
  r.body = ErrorJson(Error{code, std::move(message)});
  return r;
}

// Every 413 of the conductor carries this code (docs/REST.md).
HttpResponse TooLarge(size_t limit) {
  return JsonError(413, ErrorCode::kResourceExhausted, "request body over " + std::to_string(limit) + " bytes");
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(net::io_context& io, ServerOptions o, HttpHandler& h, WampAccept a, metrics::Registry* m)
      : io(io), options(std::move(o)), http(h), accept(std::move(a)), acceptor(io) {
    metrics::Gauge* open_gauge = nullptr;
    if (m != nullptr) {
      open_gauge = &m->GetGauge("ew_server_connections_open", "Connections open on the conductor's port");
      const char* refused_help = "Connections closed on accept because a connection cap was reached";
      const char* refused = "ew_server_connections_refused_total";
      refused_global = &m->GetCounter(refused, refused_help, {{"reason", "global_cap"}});
      refused_address = &m->GetCounter(refused, refused_help, {{"reason", "address_cap"}});
      const char* dropped_help = "Connections dropped before a request was complete";
      const char* dropped = "ew_server_connections_dropped_total";
      dropped_header = &m->GetCounter(dropped, dropped_help, {{"reason", "header_timeout"}});
      dropped_body = &m->GetCounter(dropped, dropped_help, {{"reason", "body_timeout"}});
      dropped_tls = &m->GetCounter(dropped, dropped_help, {{"reason", "tls_handshake"}});
    }
    limiter = std::make_shared<ConnectionLimiter>(options.max_connections, options.max_connections_per_address,
                                                  open_gauge);
  }

  net::io_context& io;
  ServerOptions options;
  HttpHandler& http;
  WampAccept accept;
  tcp::acceptor acceptor;
  net::steady_timer accept_pause{io};
  bool stopped = false;
  // The TLS context new connections use (null: plain); ReloadTls swaps it on the io thread.
  // A session keeps the one it started with.
  std::shared_ptr<ssl::context> tls;
  std::shared_ptr<ConnectionLimiter> limiter;
  // Null once the Server is destroyed: sessions (which hold this Impl) may outlive the
  // registry, until the io_context goes.
  std::atomic<metrics::Counter*> refused_global{nullptr};
  std::atomic<metrics::Counter*> refused_address{nullptr};
  std::atomic<metrics::Counter*> dropped_header{nullptr};
  std::atomic<metrics::Counter*> dropped_body{nullptr};
  std::atomic<metrics::Counter*> dropped_tls{nullptr};

  size_t refused_since_warning = 0;  // io thread
  std::chrono::steady_clock::time_point last_cap_warning{};

  static void Count(const std::atomic<metrics::Counter*>& counter) {
    if (auto* c = counter.load()) c->Inc();
  }
  void DetachMetrics() {
    for (auto* c : {&refused_global, &refused_address, &dropped_header, &dropped_body, &dropped_tls}) c->store(nullptr);
    limiter->DetachGauge();
  }
  void DoAccept();
  void OnAccepted(tcp::socket socket);
};

namespace {

using Ticket = std::unique_ptr<ConnectionLimiter::Ticket>;

// Closes the TCP socket under any stream: every pending operation then completes with an error.
template <typename Stream>
void CloseSocket(Stream& stream) {
  beast::error_code ignored;
  auto& socket = beast::get_lowest_layer(stream).socket();
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}
// One WAMP WebSocket connection.
//
// Deadlines (opening handshake, heartbeat, closing handshake) are our own timer, never Beast's
// stream timeouts: Beast 1.74 delivers its closing-handshake timeout to a read parked behind
// async_close and asserts (impl/read.hpp, `ec == operation_aborted`), so a peer that answers the
// close frame and then holds TCP open could abort the conductor. When our deadline passes we
// close the socket; every pending Beast operation then ends with an ordinary error.
template <typename Stream>
class WsSession final : public router::Transport, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  using std::enable_shared_from_this<WsSession<Stream>>::shared_from_this;

  WsSession(Stream&& stream, std::shared_ptr<Server::Impl> server, wamp::Serializer serializer, std::string peer,
            Ticket ticket, std::shared_ptr<ssl::context> tls)
      : ws_(std::move(stream)), server_(std::move(server)), serializer_(serializer), peer_(std::move(peer)),
        deadline_(ws_.get_executor()), ticket_(std::move(ticket)), tls_(std::move(tls)) {}

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
  // With TLS too: the TLS layer's reads and writes sit on the socket, and fail with it.
  void Drop() {
    if (socket_closed_) return;
    socket_closed_ = true;
    CloseSocket(ws_);
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

  websocket::stream<Stream> ws_;
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
  Ticket ticket_;                     // this connection's place under the connection caps
  std::shared_ptr<ssl::context> tls_;  // the context the TLS stream was made from (null: plain)
};

// One HTTP/1.1 connection: requests are answered in order, one at a time, with keep-alive. A
// streamed response (HttpResponse::stream) is the connection's last: its body is written chunk
// by chunk until it ends, and a read stays pending meanwhile to notice the client hanging up.
//
// A request goes: wait for its first byte (keep-alive idle timeout; a new connection has the
// header timeout), its header (header timeout), the size check (413), HttpHandler::Admit (its
// refusal is sent without reading the body), the body (minimum rate), then Handle.
template <typename Stream>
class HttpSession final : public StreamWriter, public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

  HttpSession(Stream&& stream, std::shared_ptr<Server::Impl> server, std::string peer, Ticket ticket,
              std::shared_ptr<ssl::context> tls)
      : stream_(std::move(stream)), server_(std::move(server)), peer_(std::move(peer)), ticket_(std::move(ticket)),
        tls_(std::move(tls)) {}

  void Run() {
    if constexpr (kIsTls<Stream>) {
      Tcp().expires_after(server_->options.handshake_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
        if (ec) {
          if (ec == beast::error::timeout) Server::Impl::Count(self->server_->dropped_tls);
          Log()->debug("TLS handshake from {} failed: {}", self->peer_, ec.message());
          return CloseSocket(self->stream_);
        }
        self->ReadRequest(/*first=*/true);
      });
    } else {
      ReadRequest(/*first=*/true);
    }
  }

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
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // ---- reading a request (io thread) ----

  void ReadRequest(bool first) {
    parser_.emplace();
    // No body limit while the header is parsed: Beast would refuse a Content-Length over it
    // before we know the route (a 2 MiB package upload to a 16 MiB route). OnHeader checks the
    // declared size against the route's limit and sets the limit for the body itself. (Not
    // boost::none: Beast 1.74 compares a Content-Length with an empty optional and refuses it.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_->header_limit(64 * 1024);
    if (first || buffer_.size() > 0) return ReadHeader();
    // Keep-alive: the next request may be long in coming; its header then has header_timeout.
    Tcp().expires_after(server_->options.http_idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->OnReadFailed(ec, "idle");
      self->buffer_.commit(n);
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    Tcp().expires_after(server_->options.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadFailed(ec, "header");
    auto& header = parser_->get();
    keep_alive_ = header.keep_alive();
    version_ = header.version();
    if (websocket::is_upgrade(header)) {
      if (!parser_->is_done()) {
        keep_alive_ = false;
        drain_after_write_ = true;
        return Write(JsonError(400, ErrorCode::kInvalidArgument, "a WebSocket upgrade request has no body"));
      }
      return Upgrade(parser_->release());
    }
    head_ = HeadOf(header, peer_);
    const auto declared = parser_->content_length();
    head_.body_bytes = parser_->chunked() ? std::nullopt : std::optional<uint64_t>(declared.value_or(0));
    body_limit_ = server_->options.max_http_body_bytes;
    for (const auto& large : server_->options.large_body_paths) {
      if (head_.path == large) body_limit_ = server_->options.max_large_http_body_bytes;
    }
    if (head_.body_bytes && *head_.body_bytes > body_limit_) return Refuse(TooLarge(body_limit_));
    server_->http.Admit(head_, [self = shared_from_this()](Admission admission) {
      // Admit may answer inline or from the blocking pool: continue on the io thread.
      net::post(self->server_->io,
                [self, admission = std::move(admission)]() mutable { self->OnAdmitted(std::move(admission)); });
    });
  }

  // Answers without reading the body: the connection cannot carry another request after it.
  void Refuse(HttpResponse response) {
    if (head_.has_body()) {
      keep_alive_ = false;
      drain_after_write_ = true;
    }
    Write(std::move(response));
  }

  void OnAdmitted(Admission admission) {
    if (admission.refusal) return Refuse(std::move(*admission.refusal));
    admission_ = std::move(admission.context);
    parser_->body_limit(body_limit_);  // counts down as a chunked body arrives
    if (parser_->is_done()) return OnBody();
    body_started_ = std::chrono::steady_clock::now();
    body_received_ = 0;
    // A client that waits for "100 Continue" before sending a large body.
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      Tcp().expires_after(server_->options.body_timeout);
      auto next = [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return self->OnReadFailed(ec, "body");
        self->ReadBody();
      };
      return net::async_write(stream_, net::buffer(kContinue), std::move(next));
    }
    ReadBody();
  }

  // The body in pieces, each with the deadline the minimum rate gives what arrived so far: a
  // sender that keeps up the rate never meets it, one that trickles meets it after the grace.
  void ReadBody() {
    const auto& o = server_->options;
    const auto earned = std::chrono::milliseconds(
        static_cast<int64_t>(body_received_ * 1000 / std::max<size_t>(1, o.body_min_bytes_per_second)));
    Tcp().expires_at(body_started_ + o.body_timeout + earned);
    http::async_read_some(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->OnReadFailed(ec, "body");
      self->body_received_ += n;
      if (self->parser_->is_done()) return self->OnBody();
      self->ReadBody();
    });
  }

  void OnReadFailed(beast::error_code ec, const char* phase) {
    if (ec == http::error::body_limit) return Refuse(TooLarge(body_limit_));
    if (ec == beast::error::timeout) {
      const bool idle = std::string_view(phase) == "idle";
      if (!idle) {
        Server::Impl::Count(std::string_view(phase) == "header" ? server_->dropped_header : server_->dropped_body);
        Log()->debug("connection from {} too slow sending its request {}, dropped", peer_, phase);
      }
      return CloseSocket(stream_);
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == ssl::error::stream_truncated) {
      return CloseSocket(stream_);
    }
    Log()->debug("http read ({}) from {} failed: {}", phase, peer_, ec.message());
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      keep_alive_ = false;
      version_ = 11;
      return Write(JsonError(400, ErrorCode::kInvalidArgument, "malformed HTTP request: " + ec.message()));
    }
    CloseSocket(stream_);
  }

  void OnBody() {
    auto req = parser_->release();
    auto self = shared_from_this();
    server_->http.Handle(ToHttpRequest(std::move(head_), std::move(req.body()), std::move(admission_)),
                         [self](HttpResponse response) {
                           // The handler may answer from the blocking pool: hop back to the io thread.
                           auto& io = self->server_->io;
                           net::post(io, [self, response = std::move(response)]() mutable {
                             self->Write(std::move(response));
                           });
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
    Tcp().expires_never();
    // The stream (TLS state included) and the connection's ticket move to the WebSocket.
    auto ws = std::make_shared<WsSession<Stream>>(std::move(stream_), server_, *chosen, peer_, std::move(ticket_),
                                                  std::move(tls_));
    upgraded_ = true;
    ws->Run(std::move(req));
  }

  void Write(HttpResponse response) {
    if (upgraded_) return;
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
    Tcp().expires_after(server_->options.http_idle_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec) return CloseSocket(self->stream_);
      if (!self->keep_alive_) return self->drain_after_write_ ? self->Drain() : self->Shutdown();
      self->ReadRequest(/*first=*/false);
    });
  }

  // The connection's end after its last answer: TLS says close_notify (bounded by the
  // handshake timeout, a peer need not answer it), plain TCP sends FIN.
  void Shutdown() {
    if constexpr (kIsTls<Stream>) {
      Tcp().expires_after(server_->options.handshake_timeout);
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) { CloseSocket(self->stream_); });
    } else {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  // After refusing a body (413, 401) the client is usually still sending it. Closing with
  // unread data would reset the connection and could destroy the answer before the client
  // reads it, so send FIN and read and drop what still comes, within a cap and a time limit (a
  // lingering close). Raw TCP under TLS too: nothing of it is decrypted.
  void Drain() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    // One deadline for the whole drain, not per read: a byte every few seconds must not keep an
    // unauthenticated peer's connection (and its place under the caps) forever.
    Tcp().expires_after(std::chrono::seconds(10));
    DrainSome();
  }

  void DrainSome() {
    constexpr size_t kMaxDrainBytes = 64u << 20;
    drain_buffer_.resize(64 * 1024);
    Tcp().async_read_some(net::buffer(drain_buffer_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_bytes_ += n;
      if (ec || self->drained_bytes_ > kMaxDrainBytes) return CloseSocket(self->stream_);
      self->DrainSome();
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
    Tcp().expires_after(server_->options.http_idle_timeout);
    http::async_write_header(stream_, *serializer,
                             [self = shared_from_this(), res, serializer](beast::error_code ec, size_t) {
                               if (ec) return self->FinishStream("the client went away: " + ec.message());
                               self->OpenStream();
                             });
  }

  void OpenStream() {
    // No deadline on the pending read that watches for a hang-up; each write gets its own.
    Tcp().expires_never();
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
      Tcp().expires_after(server_->options.http_idle_timeout);
      auto done = [self = shared_from_this()](beast::error_code ec, size_t) {
        self->chunk_writing_ = false;
        self->FinishStream(ec ? "the last write failed: " + ec.message() : "ended");
      };
      if (chunked_) return net::async_write(stream_, http::make_chunk_last(), std::move(done));
      return done(beast::error_code{}, 0);
    }
    chunk_writing_ = true;
    // A client that stops reading blocks the write; after the idle timeout it is dropped.
    Tcp().expires_after(server_->options.http_idle_timeout);
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
    CloseSocket(stream_);
    // A write in flight still reads chunks_.front(): its completion finds the stream finished.
    if (!chunk_writing_) chunks_.clear();
    Log()->debug("stream to {} over: {}", peer_, reason);
    if (auto handler = std::move(stream_handler_)) handler->OnClose(reason);
  }

  struct Chunk {
    std::string data;
    bool counted = false;  // a Write() (not an idle chunk): part of the backlog
  };

  Stream stream_;
  std::shared_ptr<Server::Impl> server_;
  std::string peer_;
  Ticket ticket_;                     // this connection's place under the connection caps
  std::shared_ptr<ssl::context> tls_;  // the context the TLS stream was made from (null: plain)
  bool upgraded_ = false;             // stream_ and ticket_ went to a WebSocket session
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
  HttpRequestHead head_;   // of the request being read
  std::any admission_;     // what Admit attached to it
  size_t body_limit_ = 0;  // of its route
  std::chrono::steady_clock::time_point body_started_;
  size_t body_received_ = 0;
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
    }
    self->OnAccepted(std::move(socket));
    self->DoAccept();
  });
}

void Server::Impl::OnAccepted(tcp::socket socket) {
  beast::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return;  // gone already
  const std::string address = endpoint.address().to_string();
  ConnectionLimiter::Verdict verdict;
  auto ticket = limiter->TryAcquire(address, &verdict);
  if (!ticket) {
    // Closed before a byte is read or a TLS handshake spent: the cheapest answer there is.
    const bool global = verdict == ConnectionLimiter::Verdict::kGlobalCap;
    Count(global ? refused_global : refused_address);
    // One warning a minute at most: an operator learns the caps bite without a log flood.
    ++refused_since_warning;
    const auto now = std::chrono::steady_clock::now();
    const bool never_warned = last_cap_warning == std::chrono::steady_clock::time_point{};
    if (never_warned || now - last_cap_warning >= std::chrono::minutes(1)) {
      Log()->warn("connection cap reached: {} connection(s) closed on accept since the last warning, the latest "
                  "from {} ({} cap)",
                  refused_since_warning, address, global ? "global" : "per-address");
      refused_since_warning = 0;
      last_cap_warning = now;
    }
    socket.close(ec);
    return;
  }
  socket.set_option(tcp::no_delay(true), ec);
  std::string peer = address + ":" + std::to_string(endpoint.port());
  auto self = shared_from_this();
  if (tls) {
    std::make_shared<HttpSession<TlsStream>>(TlsStream(std::move(socket), *tls), self, std::move(peer),
                                             std::move(ticket), tls)
        ->Run();
  } else {
    std::make_shared<HttpSession<PlainStream>>(PlainStream(std::move(socket)), self, std::move(peer),
                                               std::move(ticket), nullptr)
        ->Run();
  }
}

Server::Server(net::io_context& io, ServerOptions options, HttpHandler& http, WampAccept accept,
               metrics::Registry* metrics)
    : impl_(std::make_shared<Impl>(io, std::move(options), http, std::move(accept), metrics)) {}

Server::~Server() {
  Stop();
  if (impl_) impl_->DetachMetrics();
}

Result<uint16_t> Server::Start() {
  const auto& o = impl_->options;
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return InvalidArgument("[server] tls_cert and tls_key (--tls-cert, --tls-key) go together: set both or neither");
  }
  if (!o.tls_cert_file.empty()) {
    EW_TRY(impl_->tls, LoadTlsServerContext(o.tls_cert_file, o.tls_key_file));
  } else if (!o.allow_plain && !ew::net::IsLoopbackHost(o.address)) {
    return InvalidArgument("refusing to serve plain HTTP and WebSocket on " + o.address +
                           ", which other hosts can reach: set [server] tls_cert and tls_key (--tls-cert, "
                           "--tls-key), or [server] allow_plain = true (--allow-plain) only behind a "
                           "TLS-terminating proxy");
  }
  beast::error_code ec;
  auto address = net::ip::make_address(o.address, ec);
  if (ec) return InvalidArgument("bad listen address \"" + o.address + "\": " + ec.message());
  tcp::endpoint endpoint(address, o.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + o.address + ":" + std::to_string(o.port) + ": " + ec.message());
  }
  if (!impl_->tls && !ew::net::IsLoopbackHost(o.address)) {
    Log()->warn("serving plain HTTP on {} (allow_plain): only safe behind a TLS-terminating proxy", o.address);
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

Result<void> Server::ReloadTls() {
  if (!impl_->tls) return InvalidArgument("the server is not serving TLS: nothing to reload");
  EW_TRY(auto context, LoadTlsServerContext(impl_->options.tls_cert_file, impl_->options.tls_key_file));
  impl_->tls = std::move(context);
  return Ok();
}

bool Server::is_tls() const { return impl_->tls != nullptr; }

}  // namespace ew::server
