#include "device-agent/tunnel/tunnel_service.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "common/contract/tunnel.hpp"
#include "common/log/log.hpp"
#include "common/net/ws_splice.hpp"
#include "common/url/url.hpp"
#include "device-agent/tls/peer_verifier.hpp"

namespace ew::agent::tunnel {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace {

// What the agent masks its tunnel messages through (see Dial::Handshake).
constexpr size_t kMaskBufferBytes = 64 * 1024;

const ew::log::Logger Log{"agent"};

}  // namespace

struct TunnelService::State {
  TunnelServiceOptions options;
  size_t open = 0;
};

namespace {

// Keeps the count of open tunnels and logs how each ends.
class Books final : public ew::net::SpliceObserver {
 public:
  Books(std::shared_ptr<TunnelService::State> state, std::string what) : state_(std::move(state)), what_(std::move(what)) {}
  void OnBytes(bool, size_t) override {}
  void OnEnd(const std::string& reason) override { Log()->debug("tunnel {} ended: {}", what_, reason); }
  ~Books() override { --state_->open; }

 private:
  std::shared_ptr<TunnelService::State> state_;
  std::string what_;
};

// One tunnel's way from "connected to the local port" to a running splice: resolve the
// conductor, TCP, (TLS,) WebSocket handshake to /v1/tunnel/<token>. Any failure closes the
// local connection, which the local service sees as its client leaving.
template <typename Stream>
class Dial final : public std::enable_shared_from_this<Dial<Stream>> {
 public:
  Dial(websocket::stream<Stream> ws, tcp::socket local, url::Url conductor, std::string token,
       std::shared_ptr<Books> books, std::shared_ptr<ssl::context> tls, std::shared_ptr<tls::PeerVerifier> verifier,
       std::string board_id, std::chrono::milliseconds timeout, std::chrono::milliseconds ping_interval)
      : ws_(std::move(ws)),
        local_(std::move(local)),
        resolver_(local_.get_executor()),
        conductor_(std::move(conductor)),
        token_(std::move(token)),
        books_(std::move(books)),
        tls_(std::move(tls)),
        verifier_(std::move(verifier)),
        board_id_(std::move(board_id)),
        timeout_(timeout),
        ping_interval_(ping_interval) {}

  void Run() {
    resolver_.async_resolve(conductor_.host, std::to_string(conductor_.port),
                            [self = this->shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
                              if (ec) return self->Fail("resolve", ec);
                              self->Connect(r);
                            });
  }

 private:
  void Connect(const tcp::resolver::results_type& results) {
    auto& lowest = beast::get_lowest_layer(ws_);
    lowest.expires_after(timeout_);
    lowest.async_connect(results, [self = this->shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return self->Fail("connect", ec);
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().set_option(tcp::no_delay(true), ignored);
      self->SecureThenHandshake();
    });
  }

  void SecureThenHandshake() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      Handshake();
    } else {
      ws_.next_layer().async_handshake(ssl::stream_base::client, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return self->Fail("TLS handshake" + (self->verifier_->failure().empty() ? "" : " (" + self->verifier_->failure() + ")"), ec);
        self->Handshake();
      });
    }
  }

  void Handshake() {
    ws_.set_option(websocket::stream_base::decorator([board = board_id_](websocket::request_type& req) {
      req.set("X-Edgewire-Board", board);
      req.set(beast::http::field::user_agent, "edgewire-agent");
    }));
    ws_.async_handshake(answer_, conductor_.Authority(), "/v1/tunnel/" + token_,
                        [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return self->Fail("WebSocket handshake", ec);
      beast::get_lowest_layer(self->ws_).expires_never();
      ew::net::SpliceOptions splice_options;
      // As large a message as the conductor takes (64 KiB unless it says more).
      const auto limit = self->answer_[ew::net::kTunnelMaxMessageHeader];
      splice_options.chunk_bytes = ew::net::TunnelChunkBytesFor(std::string_view(limit.data(), limit.size()));
      // The conductor sends at most one chunk a message (the relay of /v1/services/{id}/connect
      // passes its client's on with the same limit): nothing larger is buffered here.
      splice_options.max_message_bytes = ew::net::kTunnelChunkBytes;
      self->answer_ = {};
      // The client masks what it sends through this buffer (Beast keeps it for the tunnel's
      // life, so it stays small: a large chunk is masked and written in pieces of this size).
      self->ws_.write_buffer_bytes(kMaskBufferBytes);
      splice_options.ping_interval = self->ping_interval_;
      splice_options.starts_close_handshake = false;  // the conductor's side sends the close frame
      auto splice = std::make_shared<ew::net::WsSplice<Stream>>(std::move(self->ws_), std::move(self->local_),
                                                                splice_options, self->books_, std::any(self->tls_));
      splice->Start();
    });
  }

  void Fail(const std::string& step, beast::error_code ec) {
    Log()->warn("tunnel to {}: {} failed: {}; closing the local connection", conductor_.Authority(), step,
                ec.message());
    beast::error_code ignored;
    local_.close(ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  websocket::stream<Stream> ws_;
  websocket::response_type answer_;  // the conductor's answer to the handshake
  tcp::socket local_;
  tcp::resolver resolver_;
  url::Url conductor_;
  std::string token_;
  std::shared_ptr<Books> books_;
  std::shared_ptr<ssl::context> tls_;
  std::shared_ptr<tls::PeerVerifier> verifier_;
  std::string board_id_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds ping_interval_;
};

// After the local port accepted: dial the conductor over ws or wss.
void DialConductor(net::io_context& io, const TunnelServiceOptions& options, tcp::socket local, std::string token,
                   std::shared_ptr<Books> books) {
  auto parsed = url::ParseUrl(options.conductor_url);
  if (!parsed) {
    Log()->warn("tunnel: bad conductor URL {}: {}", options.conductor_url, parsed.error().message);
    return;
  }
  const url::Url& conductor = *parsed;
  if (!conductor.is_secure()) {
    auto dial = std::make_shared<Dial<beast::tcp_stream>>(websocket::stream<beast::tcp_stream>(io), std::move(local),
                                                          conductor, std::move(token), std::move(books), nullptr,
                                                          nullptr, options.board_id, options.connect_timeout,
                                                          options.ping_interval);
    return dial->Run();
  }
  auto verifier = std::make_shared<tls::PeerVerifier>(options.trust, conductor.host);
  auto context = tls::MakeClientContext(options.trust, conductor.host, verifier);
  if (!context) {
    Log()->warn("tunnel: TLS setup for {} failed: {}", conductor.Authority(), context.error().message);
    return;
  }
  using Secure = beast::ssl_stream<beast::tcp_stream>;
  websocket::stream<Secure> ws(io, **context);
  // SNI for names only: an IP address is not a valid server name (RFC 6066).
  boost::system::error_code not_ip;
  net::ip::make_address(conductor.host, not_ip);
  if (not_ip) SSL_set_tlsext_host_name(ws.next_layer().native_handle(), conductor.host.c_str());
  auto dial = std::make_shared<Dial<Secure>>(std::move(ws), std::move(local), conductor, std::move(token),
                                             std::move(books), *context, verifier, options.board_id,
                                             options.connect_timeout, options.ping_interval);
  dial->Run();
}

}  // namespace

TunnelService::TunnelService(net::io_context& io, TunnelServiceOptions options)
    : io_(io), state_(std::make_shared<State>(State{std::move(options), 0})) {}

TunnelService::~TunnelService() = default;

size_t TunnelService::open_tunnels() const { return state_->open; }

rpc::ProcedureTable TunnelService::Procedures() {
  rpc::ProcedureTable table;
  table.push_back({contract::tunnel::kOpen.suffix,
                   [this](const rpc::Request& request, rpc::Responder respond) { Open(request, std::move(respond)); }});
  return table;
}

void TunnelService::Open(const rpc::Request& request, rpc::Responder respond) {
  auto parsed = contract::tunnel::OpenRequest::Parse(request);
  if (!parsed) return respond(tl::unexpected(parsed.error()));
  if (state_->open >= state_->options.max_tunnels)
    return respond(Unavailable("the board has " + std::to_string(state_->open) + " tunnels open, its limit"));
  const contract::tunnel::OpenRequest open = std::move(*parsed);
  ++state_->open;  // Books gives it back when the tunnel (or its attempt) is over
  auto books = std::make_shared<Books>(state_, open.service + " port " + std::to_string(open.port));
  auto socket = std::make_shared<tcp::socket>(io_);
  auto timer = std::make_shared<net::steady_timer>(io_, state_->options.connect_timeout);
  timer->async_wait([socket](boost::system::error_code ec) {
    beast::error_code ignored;
    if (!ec) socket->close(ignored);  // the connect then fails with operation_aborted
  });
  const tcp::endpoint local(net::ip::address_v4::loopback(), static_cast<uint16_t>(open.port));
  socket->async_connect(local, [this, socket, timer, books, open, respond = std::move(respond)](
                                   boost::system::error_code ec) mutable {
    const bool timed_out = timer->cancel() == 0 && ec;
    if (ec) {
      const std::string why = timed_out ? "timed out" : ec.message();
      Log()->info("tunnel for service {}: 127.0.0.1:{} {}", open.service, open.port, why);
      return respond(Unavailable("127.0.0.1:" + std::to_string(open.port) + " on board " + state_->options.board_id +
                                 ": " + why));
    }
    respond(contract::Empty{}.ToPayload());
    DialConductor(io_, state_->options, std::move(*socket), open.token, books);
  });
}

}  // namespace ew::agent::tunnel
