// The conductor's one network port: HTTP/1.1 with keep-alive for REST and WebSocket upgrades
// (path /ws) for WAMP, on Boost.Beast, over TLS (HTTPS, WSS) or, where allowed, plain TCP.
// Beast and OpenSSL stay inside server/*.cpp; this header is light.
//
// Threading: the server runs on a single io_context thread shared with the router, so router
// state and session write queues need no locks; anything blocking goes to the blocking pool.
//
// Before a request is authenticated it can cost the conductor little: connections are capped
// (globally and per source address; a board's tunnel WebSocket leaves the per-address count once
// its one-time token is redeemed, since tunnels are bounded per board by whoever issues tokens), the header must arrive within header_timeout, a body
// must keep up a minimum rate, and HttpHandler::Admit refuses a request on its header (401,
// 413) before its body is read.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cloud-conductor/router/transport.hpp"
#include "cloud-conductor/server/http_types.hpp"
#include "cloud-conductor/server/tunnel_types.hpp"
#include "common/error/error.hpp"

namespace boost::asio {
class io_context;
}
namespace ew::metrics {
class Registry;
}

namespace ew::server {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;                                     // 0 = any free port
  // TLS: PEM certificate chain (leaf first) and private key. Both empty = plain TCP, allowed
  // only on a loopback address or with allow_plain. Reloaded by Server::ReloadTls().
  std::string tls_cert_file;
  std::string tls_key_file;
  // Serve plain HTTP/WS on a non-loopback address: only behind a TLS-terminating proxy.
  bool allow_plain = false;
  size_t max_message_bytes = 1 << 20;                    // WebSocket message limit; larger → close 1009
  size_t max_http_body_bytes = 1 << 20;                  // request body limit; larger → 413
  // Paths that take larger bodies (function package uploads), and their limit.
  std::vector<std::string> large_body_paths;
  size_t max_large_http_body_bytes = 16 << 20;
  // Bytes queued to one WebSocket that it has not read yet. A peer that stops reading (or a
  // link too slow for its subscriptions) is disconnected past this instead of growing the
  // conductor's memory without bound.
  size_t max_queued_bytes = 8 << 20;
  // Open connections (HTTP, WebSocket, TLS handshakes) at once, and per source address. Past
  // either cap a new connection is closed at once and counted in ew_server_connections_refused_total.
  size_t max_connections = 10'000;
  size_t max_connections_per_address = 256;
  // A WebSocket silent for heartbeat_interval is pinged; one silent for heartbeat_timeout is
  // closed. An interval not below the timeout is taken as half the timeout.
  std::chrono::milliseconds heartbeat_interval{2'000};
  std::chrono::milliseconds heartbeat_timeout{4'000};
  // At most this many heartbeat pings a second (0 = no ceiling): with more WebSockets than
  // heartbeat_interval × this, both silences above stretch in proportion (heartbeat_wheel.hpp),
  // and peers are told (WELCOME's x_heartbeat, every ping's payload).
  uint32_t heartbeat_max_pings_per_second = 5'000;
  std::chrono::seconds handshake_timeout{10};            // TLS handshake; WebSocket opening/closing handshake
  std::chrono::seconds http_idle_timeout{60};            // keep-alive connection waiting for its next request
  // A request's whole header, from its first byte (for a new connection: from the TLS
  // handshake's end) — a slow sender (slowloris) is dropped after this.
  std::chrono::milliseconds header_timeout{10'000};
  // A body must arrive at body_min_bytes_per_second after a grace of body_timeout: a body of n
  // bytes has body_timeout + n / rate. A sender slower than that is dropped.
  std::chrono::milliseconds body_timeout{10'000};
  size_t body_min_bytes_per_second = 64 * 1024;
  // Boards' tunnel WebSockets (and proxied requests' legs): pinged after this long without a
  // word from the board, closed with the client's connection when the next interval brings
  // nothing either (common/net/leg_liveness.hpp). 0 = no pings.
  std::chrono::milliseconds tunnel_ping_interval{15'000};
  // A proxied connection (/v1/boards/{id}/proxy/{port}/) with no byte either way for this long
  // is closed. 0 = never.
  std::chrono::milliseconds proxy_idle_timeout{300'000};
};

// Called for each new WAMP WebSocket, on the io thread; returns who receives its frames.
using WampAccept = std::function<std::shared_ptr<router::TransportHandler>(std::shared_ptr<router::Transport>)>;

class ConnectionLimiter;

class Server {
 public:
  // `metrics` (may be null) receives the connection gauges and refusal counters; it must
  // outlive the server.
  Server(boost::asio::io_context& io, ServerOptions options, HttpHandler& http, WampAccept accept,
         metrics::Registry* metrics = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the TLS certificate (when configured), binds and starts accepting. Returns the bound
  // port. InvalidArgument: plain TCP on a non-loopback address without allow_plain, only one
  // of cert/key, or a certificate/key that does not load; Unavailable: the address is taken.
  Result<uint16_t> Start();
  // Stops accepting new connections (open ones live on: a stopping conductor still talks to its
  // boards, e.g. to unwatch their GPIO lines).
  void Stop();
  // Ends every WebSocket still open or closing, in this turn, telling the router (io thread, or
  // with the io_context stopped). The last thing before the io_context stops for good: the
  // router's session and its connection hold each other until told (LSan saw each session open
  // at exit leak).
  void EndSessions();
  // Reads the certificate and key files again; connections accepted from then on use them,
  // open ones keep theirs. On error (unreadable, mismatched, malformed) the current ones stay
  // and the error is returned. InvalidArgument when the server is not serving TLS. io thread.
  Result<void> ReloadTls();
  // True when Start() chose TLS.
  bool is_tls() const;
  // Who takes boards' tunnel WebSockets (/v1/tunnel/<token>); unset, they are answered 404.
  // Set before Start().
  void SetTunnelAccept(TunnelAccept accept);
  // Who opens tunnels for HTTP requests under /v1/boards/{id}/proxy/{port}/; unset, those
  // requests go to the HttpHandler like any other. Set before Start().
  void SetProxyOpen(ProxyOpen open);
  // Who checks the caller of an authenticated service connection (GET /v1/services/{id}/connect,
  // a WebSocket upgrade) and opens its tunnel: `answer` refuses it before the upgrade, `deliver`
  // hands over the board's tunnel WebSocket, which is relayed message by message with the
  // client's (common/net/ws_relay.hpp). Unset, such upgrades are answered 404. Set before Start().
  void SetServiceConnect(ProxyOpen connect);

  // The caps of the conductor's port (global, per source address): tunnel services' client
  // connections take their places under them too (TunnelManager). Valid from construction.
  std::shared_ptr<ConnectionLimiter> connection_limiter() const;

  struct Impl;  // Beast state, in server.cpp

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ew::server
