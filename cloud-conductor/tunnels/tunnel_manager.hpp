// Reverse tunnels on the conductor (docs/ARCHITECTURE.md "Tunnels"): the services' listeners,
// and for each client connection accepted on one the board call tunnel.open with a one-time
// token, the wait for the board's tunnel WebSocket, and the books (live connections, bytes) of
// the splices that follow. The splice itself runs in the server (common/net/ws_splice.hpp).
//
// Threading: Create, Delete and States may be called from any thread (they block on the store:
// the blocking pool); Redeem, Stop and everything about connections run on the io thread, the
// one thread that runs `io` (as the server and router do).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "cloud-conductor/router/board_gateway.hpp"
#include "cloud-conductor/server/connection_limiter.hpp"
#include "cloud-conductor/server/tunnel_types.hpp"
#include "cloud-conductor/tunnels/proxy_session_book.hpp"
#include "cloud-conductor/tunnels/service_store.hpp"
#include "cloud-conductor/tunnels/token_book.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"
#include "common/metrics/metrics.hpp"

namespace ew::conductor::tunnels {

struct TunnelOptions {
  std::string listen_address = "127.0.0.1";  // where services' conductor ports listen
  // Ports for services that name none: the first free one of port_first..port_last; port_first
  // = 0: whatever free port the OS picks.
  uint16_t port_first = 20'000;
  uint16_t port_last = 20'999;
  size_t max_connections = 64;  // live connections per service that sets no limit
  // From accept to the board's tunnel WebSocket (also the token's life and the tunnel.open
  // call's timeout): past it the client's connection is closed.
  std::chrono::milliseconds open_timeout{10'000};
  // Tunnels of one board at once (waiting for its WebSocket or spliced, services and proxied
  // requests together). Boards' tunnel WebSockets are outside the server's per-address cap
  // (server.hpp), so this is what bounds them per board; past it a client is closed at once.
  size_t max_tunnels_per_board = 512;
  ProxySessionOptions proxy_sessions;  // browser logins to boards' HTTP services
  // Proxied HTTP connections (/v1/boards/{id}/proxy/{port}/) at once, waiting or spliced, all
  // users together; past it a request is a 429 (security review 3, M1).
  size_t max_proxied = 1024;
  // Of one user (API token and browser sessions together): one operator cannot take the
  // conductor's max_proxied places from the others; past it 429.
  size_t max_proxied_per_user = 64;
  // Tunnelled connections of one project at once (its services' clients and proxied requests
  // to its boards, waiting or spliced): one project cannot take the conductor's
  // [server] max_connections from the others; past it the client is closed (a proxied request
  // gets 429). Keep it below [server] max_connections (review 3, M2).
  size_t max_connections_per_project = 2048;
  size_t max_services_per_project = 32;  // services of one project at once; past it Create is ResourceExhausted
};

// Who opened a proxied connection (/v1/boards/{id}/proxy/{port}/): it lives no longer than
// their API token or browser session (security review H2).
struct ProxyCaller {
  std::string user_id;
  std::string user_name;  // for the log
  std::string token_id;   // ApiToken.id of the token, or of the token the browser session came from
  std::string project_id;  // the board's project: the connection counts under its cap
  // Time left of the token or session (whichever ends first); 0 = no end of its own. Past it
  // the connection is closed, and so is one still waiting for the board's tunnel.
  std::chrono::milliseconds time_left{0};
  // TunnelManager::ProxyEndMark() read before the caller was checked: a revocation announced
  // since then (EndProxied) that covers the caller refuses the request in OpenProxy, even
  // if it ran before the request reached the io thread (security review 2, finding 1).
  uint64_t checked_after = 0;
  // The service an authenticated service connection (GET /v1/services/{id}/connect) is of; ""
  // for a proxied HTTP request. Delete ends the service's connections.
  std::string service_id;
};

// A service as GET /v1/services shows it: what is stored and how it is doing.
struct ServiceState {
  Service service;
  // "listening", "connect-only" (listen false: no conductor port, no counters here), or "error"
  // (its port could not be bound: see error).
  std::string state;
  std::string error;
  uint64_t live_connections = 0;   // accepted and not closed (waiting for the board or spliced)
  uint64_t total_connections = 0;  // accepted since the conductor started
  uint64_t refused_connections = 0;  // closed at once: source not allowed, limit, board offline or refusing
  uint64_t bytes_to_board = 0;     // from clients into the tunnels
  uint64_t bytes_from_board = 0;   // from the board back to clients
};

class TunnelManager {
 public:
  // Everything must outlive the manager; `io` must not run after it is destroyed.
  TunnelManager(boost::asio::io_context& io, ServiceStore& store, router::BoardGateway& gateway, const Clock& clock,
                metrics::Registry& metrics, TunnelOptions options);
  ~TunnelManager();
  TunnelManager(const TunnelManager&) = delete;
  TunnelManager& operator=(const TunnelManager&) = delete;

  // Listens again for every stored service (conductor restart) but the connect-only ones. A
  // port that cannot be bound is logged and leaves its service in state "error"; the others
  // serve. Internal on a store
  // failure. Call before the io loop runs.
  Result<void> Start();
  // Binds the service's conductor port (spec.conductor_port, or one from the range when 0),
  // stores it and starts accepting. A connect-only spec (listen false) is only stored: no
  // port. `spec` has been validated (board exists, ports in range,
  // CIDRs parse). Unavailable when the port is taken or the range is full; Conflict when
  // another service has the port; NotFound when the board is deleted meanwhile (also after the
  // insert: its row is checked again once the listener is published). Nothing is left behind on
  // error. Blocking.
  Result<ServiceState> Create(Service spec);
  // Removes the service from the store, closes its listener, the connections waiting for the
  // board and every spliced connection (its authenticated ones too: ProxyCaller::service_id). NotFound when there is none. Blocking.
  Result<void> Delete(const std::string& id);
  // The stored service `id` and its live state; NotFound when there is none. Blocking.
  Result<ServiceState> Get(const std::string& id) const;
  // Every service of `project_id` ("" = all) with its live state. Blocking.
  Result<std::vector<ServiceState>> List(const std::string& project_id) const;
  // The live state of each of `services` (stored ones). Thread-safe, non-blocking.
  std::vector<ServiceState> States(const std::vector<Service>& services) const;

  // The server's TunnelAccept (io thread): redeems `token` for the board's WebSocket. The token
  // is spent whatever the outcome. PermissionDenied for an unknown, used, expired or other
  // board's token, or one issued on a session of the board that is no longer its live one;
  // NotFound when its client connection has gone meanwhile.
  Result<server::TunnelEnd> Redeem(const std::string& token, const std::string& board_id, const std::string& peer);
  // An HTTP request for the board's 127.0.0.1:<port> (/v1/boards/{id}/proxy/{port}/, the
  // caller already checked): asks the board to open a tunnel as for a service connection;
  // `deliver` gets the board's WebSocket, or `failed` the reason (Unavailable: board offline,
  // port refused, no dial back in time). io thread.
  // `caller` is kept with the connection: EndProxied closes it, and so does its time_left,
  // whether it is spliced or still waiting for the board (then `failed` gets PermissionDenied and
  // the board's late tunnel WebSocket is refused: its token is forgotten). PermissionDenied at
  // once when a revocation since caller.checked_after covers the caller. io thread.
  void OpenProxy(const std::string& board_id, uint16_t port, const std::string& peer, ProxyCaller caller,
                 std::function<void(Error)> failed, std::function<void(std::any)> deliver);
  using ProxyCovered = std::function<bool(const ProxyCaller&, const std::string& board_id)>;
  // Closes every proxied connection whose caller `covered` names (a revoked token, a deleted
  // user, a deleted board), logging `reason`: spliced ones, ones waiting for the board's tunnel
  // WebSocket (their token is forgotten, so the board's late dial is refused with 403), and ones
  // between the two. `covered` is kept for [tunnels] open_timeout_ms to refuse requests checked
  // before it ran (ProxyCaller::checked_after): it must own what it reads. Returns how many it
  // closed. io thread.
  size_t EndProxied(ProxyCovered covered, const std::string& reason);
  // How many EndProxied calls there were: read before checking a proxy caller. Thread-safe.
  uint64_t ProxyEndMark() const { return proxy_end_mark_.load(); }
  // A board was deleted (its services' rows went with it): closes its services' listeners and
  // connections and its proxied connections. Any thread.
  void CloseBoard(const std::string& board_id);
  // Whether services' conductor ports listen on a loopback address only ([tunnels]
  // listen_address): elsewhere they are reachable from the network.
  bool ListensOnLoopback() const;
  const std::string& listen_address() const { return options_.listen_address; }
  // The conductor port's connection caps: from then on each service's client connection takes
  // a place under them (global and per source address) like any connection to the conductor,
  // and is closed on accept past either. Call before the io loop runs.
  void SetConnectionLimiter(std::shared_ptr<server::ConnectionLimiter> limiter) { limiter_ = std::move(limiter); }
  // Closes every listener and connection (conductor stopping). io thread.
  void Stop();
  // Tests only: runs in Create between the service's insert and its listener's publication, the
  // window a board's deletion can fall into (security review 3, L6). Set before Create runs.
  void SetAfterInsertForTest(std::function<void(const Service&)> hook) { after_insert_for_test_ = std::move(hook); }
  // Browser logins and sessions for /v1/boards/{id}/proxy/{port}/. Thread-safe.
  ProxySessionBook& proxy_sessions() { return proxy_sessions_; }

  struct Listener;    // one service's acceptor and books, in tunnel_manager.cpp
  struct Connection;  // one spliced client connection's books

 private:
  struct Pending;
  Result<std::shared_ptr<Listener>> Bind(const Service& service, bool allocate);
  void OnAccepted(const std::shared_ptr<Listener>& listener, boost::asio::ip::tcp::socket socket);
  // Issues a token for a connection waiting for `board` (its socket, or a proxy's callbacks in
  // `pending`) and calls tunnel.open. The connection takes a place under the board's, its
  // project's and (proxied) its user's caps until it ends.
  // Unavailable when the board has max_tunnels_per_board open; ResourceExhausted when the
  // project has max_connections_per_project or the user max_proxied_per_user.
  Result<void> AskBoard(const std::shared_ptr<Listener>& listener, uint64_t session_id,
                        std::unique_ptr<Pending> pending, const std::string& board_id, uint16_t port,
                        const std::string& service_id, const std::string& project_id);
  // Closes a connection waiting for its board (`failed` gets `code`); nothing when it is not
  // waiting any more.
  void Cancel(uint64_t connection_id, const std::string& reason, ErrorCode code = ErrorCode::kUnavailable);
  // Drops the EndProxied notices older than open_timeout.
  void PruneProxyEnds();
  void CloseService(const std::shared_ptr<Listener>& listener);

  boost::asio::io_context& io_;
  ServiceStore& store_;  // thread-safe (its own connection and mutex)
  router::BoardGateway& gateway_;
  const Clock& clock_;
  metrics::Registry& metrics_;
  TunnelOptions options_;

  std::mutex create_mu_;  // a project's count and its new service's insert, together
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Listener>> listeners_;  // GUARDED_BY(mu_), by service id

  // io thread only.
  TokenBook tokens_;
  std::map<uint64_t, std::unique_ptr<Pending>> pending_;  // client connections waiting for their board
  uint64_t next_connection_id_ = 1;
  std::shared_ptr<Listener> proxy_;  // books of proxied HTTP requests (io thread; made on first use)
  // EndProxied's recent calls, for requests checked before one ran and opened after it.
  struct ProxyEnd {
    uint64_t mark;  // ProxyEndMark() once it was made
    ProxyCovered covered;
    std::string reason;
    std::chrono::steady_clock::time_point at;
  };
  std::deque<ProxyEnd> proxy_ends_;  // io thread; oldest first
  uint64_t proxy_ends_pruned_ = 0;   // io thread; the mark of the newest notice dropped
  std::atomic<uint64_t> proxy_end_mark_{0};
  // Open tunnels per board, per project and proxied connections per user (io thread); shared
  // with the connections that give theirs back.
  struct Counts {
    std::map<std::string, size_t> boards;
    std::map<std::string, size_t> projects;
    std::map<std::string, size_t> users;
  };
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  ProxySessionBook proxy_sessions_;
  std::shared_ptr<server::ConnectionLimiter> limiter_;  // null: services' clients are not capped here
  std::function<void(const Service&)> after_insert_for_test_;
};

}  // namespace ew::conductor::tunnels
