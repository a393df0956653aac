// One HTTP connection on the conductor's port: keep-alive, admission on the header, body limits
// and deadlines, JSON errors; it hands its stream to a WsSession (upgrade on /ws) or an
// SseSession (streamed response). Internal to cloud-conductor/server.
#pragma once

#include <algorithm>
#include <any>
#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "cloud-conductor/server/http_types.hpp"
#include "cloud-conductor/server/proxy_headers.hpp"
#include "cloud-conductor/server/proxy_target.hpp"
#include "cloud-conductor/server/request_head.hpp"
#include "cloud-conductor/server/server_impl.hpp"
#include "cloud-conductor/server/sse_session.hpp"
#include "cloud-conductor/server/tunnel_session.hpp"
#include "cloud-conductor/server/ws_session.hpp"
#include "common/net/ws_relay.hpp"

namespace ew::server {

namespace http = beast::http;
namespace websocket = beast::websocket;

inline HttpResponse JsonError(int status, ErrorCode code, std::string message) {
  HttpResponse r;
  r.status = status;
  r.body = ErrorJson(Error{code, std::move(message)});
  return r;
}

// Every 413 of the conductor carries this code (docs/REST.md).
inline HttpResponse TooLarge(size_t limit) {
  return JsonError(413, ErrorCode::kResourceExhausted, "request body over " + std::to_string(limit) + " bytes");
}

// One HTTP/1.1 connection: requests are answered in order, one at a time, with keep-alive. A
// streamed response (HttpResponse::stream) is the connection's last: the stream moves to an
// SseSession that writes its body; a WebSocket upgrade moves it to a WsSession.
//
// A request goes: wait for its first byte (keep-alive idle timeout; a new connection has the
// header timeout), its header (header timeout), the size check (413), HttpHandler::Admit (its
// refusal is sent without reading the body), the body (minimum rate), then Handle.
template <typename Stream>
class HttpSession final : public std::enable_shared_from_this<HttpSession<Stream>> {
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

 private:
  TcpStream& Tcp() { return beast::get_lowest_layer(stream_); }

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
    if (server_->proxy_open && IsProxyTarget(std::string_view(header.target().data(), header.target().size())))
      return Proxy();
    if (websocket::is_upgrade(header)) {
      if (!parser_->is_done()) {
        keep_alive_ = false;
        drain_after_write_ = true;
        return Write(JsonError(400, ErrorCode::kInvalidArgument, "a WebSocket upgrade request has no body"));
      }
      return Upgrade(parser_->release());
    }
    head_ = RequestHeadOf(header, peer_);
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
    HttpRequest request;
    static_cast<HttpRequestHead&>(request) = std::move(head_);
    request.body = std::move(req.body());
    request.admission = std::move(admission_);
    server_->http.Handle(std::move(request),
                         [self](HttpResponse response) {
                           // The handler may answer from the blocking pool: hop back to the io thread.
                           auto& io = self->server_->io;
                           net::post(io, [self, response = std::move(response)]() mutable {
                             self->Write(std::move(response));
                           });
                         });
  }

  void Upgrade(http::request<http::string_body> req) {
    static constexpr std::string_view kTunnelPrefix = "/v1/tunnel/";
    const std::string_view target(req.target().data(), req.target().size());
    if (target.substr(0, kTunnelPrefix.size()) == kTunnelPrefix) return UpgradeTunnel(std::move(req));
    if (IsServiceConnectTarget(target)) return ConnectService(std::move(req));
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
    handed_over_ = true;
    ws->Run(std::move(req));
  }

  // A request for a board's HTTP service: the conductor checks the caller and opens a tunnel;
  // the request's head, rewritten, then its bytes go through it (StartProxy: WsSplice). One
  // request per board connection: a plain request's body is carried up to its Content-Length
  // and nothing after it (a pipelined request would reach the board unrewritten, with the
  // caller's token); an upgrade's bytes pass only once the board answered 101.
  void Proxy() {
    auto& header = parser_->get();
    head_ = RequestHeadOf(header, peer_);
    head_.body_bytes = parser_->chunked() ? std::nullopt : std::optional<uint64_t>(parser_->content_length().value_or(0));
    keep_alive_ = false;
    auto target = ParseProxyTarget(std::string_view(header.target().data(), header.target().size()));
    if (!target) return Refuse(JsonError(400, ErrorCode::kInvalidArgument, target.error().message));
    // Every board's pages share the conductor's origin: a service worker one of them registered
    // (with the board's `Service-Worker-Allowed: /`) would control every page of that origin,
    // other boards' and the conductor's own. Browsers fetch a worker's script with
    // `Service-Worker: script`; no such fetch reaches a board (security review 3, H1).
    // A Transfer-Encoding in any spelling or with any coding is refused, not dropped: the body's
    // framing is the conductor's to read from a Content-Length, and a board's server that reads
    // Transfer_Encoding as Transfer-Encoding, or knows a coding the conductor does not, would
    // find another end of the body than the conductor did (security review 3, L1).
    for (const auto& field : header) {
      const std::string name =
          CanonicalHeaderName(std::string_view(field.name_string().data(), field.name_string().size()));
      if (name == "service-worker")
        return Refuse(JsonError(403, ErrorCode::kPermissionDenied,
                                "service workers are not served through the board proxy (boards share the "
                                "conductor's origin)"));
      if (name == "transfer-encoding")
        return Refuse(JsonError(411, ErrorCode::kInvalidArgument,
                                "a proxied request's body needs a Content-Length and no Transfer-Encoding"));
    }
    const bool upgrade = websocket::is_upgrade(header);
    if (!head_.body_bytes) {
      return Refuse(JsonError(411, ErrorCode::kInvalidArgument,
                              "a proxied request's body needs a Content-Length (chunked bodies are not proxied)"));
    }
    if (upgrade && *head_.body_bytes > 0) {
      return Refuse(JsonError(400, ErrorCode::kInvalidArgument, "a WebSocket upgrade request has no body"));
    }
    client_budget_ = upgrade ? std::nullopt : head_.body_bytes;
    const bool bearer = !head_.Header("authorization").empty() && head_.Header("x-auth-token").empty();
    const bool has_cookies = !head_.Header("cookie").empty();
    std::string text = std::string(header.method_string()) + " " + target->upstream + " HTTP/1.1\r\n";
    for (const auto& field : header) {
      const std::string name(field.name_string());
      // Forwarding headers, in any spelling, are the conductor's to set (proxy_headers.hpp).
      if (DropFromProxiedHead(name, ProxyHeadKind{bearer, upgrade})) continue;
      if (has_cookies && beast::iequals(name, "cookie")) {
        // The conductor's proxy session stays at the conductor; the board's own cookies pass.
        const std::string rest_of = WithoutCookie(std::string(field.value()), kProxySessionCookie);
        if (!rest_of.empty()) text += name + ": " + rest_of + "\r\n";
        continue;
      }
      text += name + ": " + std::string(field.value()) + "\r\n";
    }
    text += "Host: 127.0.0.1:" + std::to_string(target->port) + "\r\n";
    text += ProxiedConnectionHeader(ProxyHeadKind{bearer, upgrade});
    text += "X-Forwarded-For: " + peer_.substr(0, peer_.rfind(':')) + "\r\n";
    text += std::string("X-Forwarded-Proto: ") + (kIsTls<Stream> ? "https" : "http") + "\r\n";
    text += "X-Forwarded-Prefix: " + target->prefix + "\r\n\r\n";
    upstream_head_ = std::move(text);
    auto self = shared_from_this();
    server_->proxy_open(
        head_,
        [self](HttpResponse answer) {
          net::post(self->server_->io, [self, answer = std::move(answer)]() mutable { self->Refuse(std::move(answer)); });
        },
        [self](std::any ws) {
          net::post(self->server_->io, [self, ws = std::move(ws)]() mutable { self->StartProxy(std::move(ws)); });
        });
  }

  void StartProxy(std::any board_websocket) {
    auto leg = std::any_cast<std::shared_ptr<BoardLeg<Stream>>>(std::move(board_websocket));
    if (handed_over_) return;  // the leg ends with its last holder (BoardLeg)
    // What the parser read past the header follows the head: the body's start, never more than
    // the body (anything after it is a pipelined request, dropped). An upgrade has no body.
    const auto leftover = buffer_.cdata();
    size_t take = 0;
    if (client_budget_) {
      take = static_cast<size_t>(std::min<uint64_t>(leftover.size(), *client_budget_));
      *client_budget_ -= take;
    }
    upstream_head_.append(static_cast<const char*>(leftover.data()), take);
    buffer_.consume(buffer_.size());
    handed_over_ = true;
    // The service tunnels' splice, with this connection as its TCP side (common/net/ws_splice.hpp):
    // the head first, then the rest of the body only (or, for an upgrade, everything once the
    // board answered 101); the board's end ends the connection; idle ends it too. The splice
    // reports bytes and the end to the tunnel's books (TunnelManager: /metrics, revocation).
    ew::net::SpliceOptions options = BoardLegOptions(server_->options);
    options.preface = std::move(upstream_head_);
    options.up_budget = client_budget_;
    options.up_after_switching_protocols = !client_budget_;
    options.end_with_peer = true;
    options.idle_timeout = server_->options.proxy_idle_timeout;
    options.close_timeout = server_->options.handshake_timeout;
    // A proxied upgrade keeps its read buffer for as long as it is open (its TCP side is a
    // stream, not a pollable socket): the smaller chunk, as before services went to 256 KiB.
    options.chunk_bytes = ew::net::kLegacyTunnelChunkBytes;
    struct Keep {
      std::shared_ptr<TunnelKeep> board;  // the board's tunnel connection's
      Ticket ticket;                      // this client connection's
      std::shared_ptr<ssl::context> tls;
    };
    auto keep = std::make_shared<Keep>(Keep{std::move(leg->keep), std::move(ticket_), std::move(tls_)});
    auto observer = std::move(leg->observer);
    std::make_shared<ew::net::WsSplice<Stream, Stream>>(std::move(leg->ws), std::move(stream_), std::move(options),
                                                        std::move(observer), std::any(std::move(keep)))
        ->Start();
  }

  // /v1/services/{id}/connect[?query]: an authenticated service connection.
  static bool IsServiceConnectTarget(std::string_view target) {
    static constexpr std::string_view kPrefix = "/v1/services/";
    static constexpr std::string_view kSuffix = "/connect";
    target = target.substr(0, target.find('?'));
    return target.size() > kPrefix.size() + kSuffix.size() && target.substr(0, kPrefix.size()) == kPrefix &&
           target.substr(target.size() - kSuffix.size()) == kSuffix;
  }

  // GET /v1/services/{id}/connect, upgraded: the conductor checks the caller and opens the
  // tunnel as for a proxied request (same caps, revocation, books); only then is the client's
  // WebSocket handshake answered, and its messages are relayed to the board's tunnel WebSocket
  // (a refusal is an HTTP error before any upgrade).
  void ConnectService(http::request<http::string_body> req) {
    keep_alive_ = false;
    if (!server_->service_connect) return Write(JsonError(404, ErrorCode::kNotFound, "service connections are not served here"));
    head_ = RequestHeadOf(req, peer_);
    upgrade_request_ = std::move(req);
    auto self = shared_from_this();
    server_->service_connect(
        head_,
        [self](HttpResponse answer) {
          net::post(self->server_->io, [self, answer = std::move(answer)]() mutable { self->Write(std::move(answer)); });
        },
        [self](std::any ws) {
          net::post(self->server_->io, [self, ws = std::move(ws)]() mutable { self->StartServiceRelay(std::move(ws)); });
        });
  }

  void StartServiceRelay(std::any board_websocket) {
    auto leg = std::any_cast<std::shared_ptr<BoardLeg<Stream>>>(std::move(board_websocket));
    if (handed_over_ || !upgrade_request_) return;  // the leg ends with its last holder (BoardLeg)
    handed_over_ = true;
    Tcp().expires_never();
    auto client = std::make_shared<websocket::stream<Stream>>(std::move(stream_));
    client->set_option(websocket::stream_base::timeout{server_->options.handshake_timeout,
                                                       websocket::stream_base::none(), false});
    client->set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "edgewire-conductor"); }));
    struct Keep {
      std::shared_ptr<TunnelKeep> board;  // the board's tunnel connection's
      Ticket ticket;                      // this client connection's
      std::shared_ptr<ssl::context> tls;
    };
    auto keep = std::make_shared<Keep>(Keep{leg->keep, std::move(ticket_), std::move(tls_)});
    const auto& o = server_->options;
    client->async_accept(*upgrade_request_, [client, leg, keep, ping = o.tunnel_ping_interval,
                                             close = o.handshake_timeout](beast::error_code ec) mutable {
      if (ec) return;  // the client went: `leg` ends the board's side (BoardLeg's destructor)
      ew::net::RelayOptions options;
      // Both legs carry tunnel chunks: the board's agent and `edgewire tunnel connect` send at
      // most kTunnelChunkBytes a message (older CLIs 64 KiB), and the agent takes no more.
      options.max_message_bytes = ew::net::kTunnelChunkBytes;
      options.ping_interval = ping;
      options.close_timeout = close;
      auto observer = std::move(leg->observer);
      std::make_shared<ew::net::WsRelay<Stream, Stream>>(std::move(*client), std::move(leg->ws), options,
                                                         std::move(observer), std::any(std::move(keep)))
          ->Start();
    });
  }

  // A board's tunnel WebSocket: the token is redeemed (single use) before the handshake is
  // answered; a refusal is a JSON error and the connection's end.
  void UpgradeTunnel(http::request<http::string_body> req) {
    keep_alive_ = false;
    if (!server_->tunnel_accept) return Write(JsonError(404, ErrorCode::kNotFound, "tunnels are not served here"));
    const std::string target(req.target().data(), req.target().size());
    const std::string token = target.substr(std::string_view("/v1/tunnel/").size());
    const auto board_header = req["X-Edgewire-Board"];
    auto end = server_->tunnel_accept(token, std::string(board_header.data(), board_header.size()), peer_);
    if (!end) {
      Log()->info("tunnel WebSocket from {} refused: {}", peer_, end.error().message);
      return Write(JsonError(HttpStatus(end.error().code), end.error().code, end.error().message));
    }
    // A redeemed token means the conductor asked for this connection within the board's and
    // the service's limits: it no longer takes a place under the per-address cap (meant for
    // clients), so a NATed board can hold more tunnels than that cap (server.hpp).
    if (ticket_) ticket_->LeaveAddressCap();
    Tcp().expires_never();
    auto tunnel = std::make_shared<TunnelSession<Stream>>(std::move(stream_), server_, std::move(*end), peer_,
                                                          std::move(ticket_), std::move(tls_));
    handed_over_ = true;
    tunnel->Run(std::move(req));
  }

  // The stream (TLS state included) and the connection's ticket move to the session that
  // writes the streamed body; nothing more is read from this connection.
  void HandOverToStream(HttpResponse response) {
    auto sse = std::make_shared<SseSession<Stream>>(std::move(stream_), server_, peer_, std::move(ticket_),
                                                    std::move(tls_));
    handed_over_ = true;
    sse->Start(std::move(response), version_);
  }

  void Write(HttpResponse response) {
    if (handed_over_) return;
    if (response.stream) return HandOverToStream(std::move(response));
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

  Stream stream_;
  std::shared_ptr<Server::Impl> server_;
  std::string peer_;
  Ticket ticket_;                     // this connection's place under the connection caps
  std::shared_ptr<ssl::context> tls_;  // the context the TLS stream was made from (null: plain)
  bool handed_over_ = false;          // stream_ and ticket_ went to a WebSocket or SSE session
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequestHead head_;   // of the request being read
  std::string upstream_head_;  // a proxied request's head as the board's service gets it
  std::optional<http::request<http::string_body>> upgrade_request_;  // ConnectService's, until answered
  std::optional<uint64_t> client_budget_;  // a proxied request's body bytes still to carry; none: upgrade
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

}  // namespace ew::server
