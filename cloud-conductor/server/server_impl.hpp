// The state a Server shares with its listener and every session (options, connection caps, the
// TLS context new connections use, metrics), and the few helpers all sessions use. Internal to
// cloud-conductor/server: it brings in Beast, which server.hpp keeps out of its includers.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>

#include "cloud-conductor/server/connection_limiter.hpp"
#include "cloud-conductor/server/heartbeat_wheel.hpp"
#include "cloud-conductor/server/server.hpp"
#include "cloud-conductor/server/tls_stream.hpp"
#include "common/log/log.hpp"
#include "common/metrics/metrics.hpp"
#include "common/wamp/heartbeat.hpp"

namespace ew::server {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

// A session is a template over its stream: plain TCP, or TLS over TCP (tls_stream.hpp).
using PlainStream = TcpStream;
template <typename Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

inline const ew::log::Logger Log{"server"};

// A WebSocket session with frames queued while another session's read was being routed.
class ReadFlushTarget {
 public:
  virtual ~ReadFlushTarget() = default;
  // Writes them now, or (more_buffered: the reader has more messages in hand, a burst) posts
  // the flush that gathers what the rest of the burst queues.
  virtual void FlushAfterRead(bool more_buffered) = 0;
};

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
      heartbeat_pings = &m->GetCounter("ew_server_heartbeat_pings_total", "WebSocket pings sent by the heartbeat");
      heartbeat_expired = &m->GetCounter("ew_server_heartbeat_expired_total",
                                         "WebSockets dropped by the heartbeat (silent for heartbeat_timeout)");
      heartbeat_interval_gauge = &m->GetGauge(
          "ew_server_heartbeat_interval_seconds",
          "Silence after which a WebSocket is pinged now: heartbeat_interval, or longer under the ping ceiling");
      heartbeat_interval_gauge.load()->Set(std::chrono::duration<double>(HeartbeatInterval(options)).count());
    }
    limiter = std::make_shared<ConnectionLimiter>(options.max_connections, options.max_connections_per_address,
                                                  open_gauge);
  }

  net::io_context& io;
  ServerOptions options;
  HttpHandler& http;
  WampAccept accept;
  TunnelAccept tunnel_accept;  // null: no tunnels
  ProxyOpen proxy_open;        // null: no HTTP proxy to boards
  ProxyOpen service_connect;   // null: no GET /v1/services/{id}/connect (answered 404)
  tcp::acceptor acceptor;
  net::steady_timer accept_pause{io};
  bool stopped = false;
  // WebSocket frames read by any session: a session with frames to write waits while this moves
  // (others are still handing the router frames that queue more), to write them together.
  std::atomic<uint64_t> ws_frames_read{0};
  // While a WebSocket session hands the router a frame it read (io thread): the sessions that
  // frame gave something to write register here instead of posting their flush, and the reading
  // session flushes them as soon as the router returns, before it reads again, unless a whole
  // message more is already in its buffer (ws_session.hpp, WsSession::OnRead).
  bool routing_read = false;
  std::vector<std::shared_ptr<ReadFlushTarget>> flush_after_read;
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
  std::atomic<metrics::Counter*> heartbeat_pings{nullptr};
  std::atomic<metrics::Counter*> heartbeat_expired{nullptr};
  std::atomic<metrics::Gauge*> heartbeat_interval_gauge{nullptr};

  // Every accepted WebSocket until it is destroyed, closing ones included (they have left the
  // heartbeat wheel): Server::Stop ends them all (io thread).
  std::unordered_set<HeartbeatWheel::Member*> sessions;

  size_t refused_since_warning = 0;  // io thread
  std::chrono::steady_clock::time_point last_cap_warning{};

  static void Count(const std::atomic<metrics::Counter*>& counter) {
    if (auto* c = counter.load()) c->Inc();
  }
  void DetachMetrics() {
    for (auto* c : {&refused_global, &refused_address, &dropped_header, &dropped_body, &dropped_tls, &heartbeat_pings,
                    &heartbeat_expired})
      c->store(nullptr);
    heartbeat_interval_gauge.store(nullptr);
    limiter->DetachGauge();
  }
  void DoAccept();
  void OnAccepted(TcpSocket socket);

  // The heartbeat of every WebSocket (heartbeat_wheel.hpp): one timer, armed only while some
  // connection is watched, so that an io_context with no sessions left runs out of work.
  void WatchHeartbeat(HeartbeatWheel::Member* member) {
    heartbeat.Add(member);
    if (!heartbeat_armed) ArmHeartbeatTick();
  }
  void ArmHeartbeatTick() {
    heartbeat_armed = true;
    heartbeat_timer.expires_after(heartbeat.tick());
    heartbeat_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      self->heartbeat_armed = false;
      if (ec) return;
      const uint64_t pinged = self->heartbeat.pinged(), expired = self->heartbeat.expired();
      self->heartbeat.Advance(std::chrono::steady_clock::now());
      if (auto* c = self->heartbeat_pings.load()) c->Inc(static_cast<double>(self->heartbeat.pinged() - pinged));
      if (auto* c = self->heartbeat_expired.load()) c->Inc(static_cast<double>(self->heartbeat.expired() - expired));
      self->NoteHeartbeatStretch();
      if (self->heartbeat.size() > 0) self->ArmHeartbeatTick();
    });
  }
  // After a tick: the gauge, and a log line when the ping ceiling's stretch has moved by more
  // than a quarter since the last one (wamp::HeartbeatMoved, as for telling a peer), or ended.
  void NoteHeartbeatStretch() {
    if (auto* g = heartbeat_interval_gauge.load())
      g->Set(std::chrono::duration<double>(heartbeat.interval()).count());
    const bool stretched = heartbeat.interval() > HeartbeatInterval(options);
    const auto terms = HeartbeatTerms();
    if (stretched ? heartbeat_logged && !wamp::HeartbeatMoved(*heartbeat_logged, terms) : !heartbeat_logged) return;
    if (stretched) {
      heartbeat_logged = terms;
      Log()->info("heartbeat: {} WebSockets at most {} pings a second: each pinged after {} ms of silence, "
                  "dropped after {} ms",
                  heartbeat.size(), options.heartbeat_max_pings_per_second, terms.interval.count(),
                  terms.timeout.count());
    } else {
      heartbeat_logged.reset();
      Log()->info("heartbeat: {} WebSockets, back to {} ms / {} ms", heartbeat.size(), terms.interval.count(),
                  terms.timeout.count());
    }
  }
  std::optional<wamp::HeartbeatTerms> heartbeat_logged;  // the stretch last logged; none: not stretched

  // What a WebSocket is held to now (the wheel's stretched silences, in whole milliseconds).
  wamp::HeartbeatTerms HeartbeatTerms() const {
    using std::chrono::ceil;
    using std::chrono::milliseconds;
    return {ceil<milliseconds>(heartbeat.interval()), ceil<milliseconds>(heartbeat.timeout())};
  }
  static std::chrono::steady_clock::duration HeartbeatInterval(const ServerOptions& o) {
    return o.heartbeat_interval < o.heartbeat_timeout ? std::chrono::steady_clock::duration(o.heartbeat_interval)
                                                      : std::chrono::steady_clock::duration(o.heartbeat_timeout / 2);
  }
  // Ticks of an eighth of the timeout: a dead peer is dropped at most timeout + timeout/8 after
  // its last frame (4.5 s with the default 4 s: issue 14's "offline within 5 s").
  HeartbeatWheel heartbeat{HeartbeatInterval(options), options.heartbeat_timeout,
                           std::chrono::steady_clock::duration(options.heartbeat_timeout) / 8,
                           std::chrono::steady_clock::now(), options.heartbeat_max_pings_per_second};
  net::steady_timer heartbeat_timer{io};
  bool heartbeat_armed = false;
};

using Ticket = std::unique_ptr<ConnectionLimiter::Ticket>;

// Closes the TCP socket under any stream: every pending operation then completes with an error.
template <typename Stream>
void CloseSocket(Stream& stream) {
  beast::error_code ignored;
  auto& socket = beast::get_lowest_layer(stream).socket();
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace ew::server
