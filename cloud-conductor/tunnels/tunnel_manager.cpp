#include "cloud-conductor/tunnels/tunnel_manager.hpp"

#include <deque>
#include <optional>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cloud-conductor/tunnels/source_filter.hpp"
#include "common/contract/tunnel.hpp"
#include "common/log/log.hpp"

namespace ew::conductor::tunnels {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

const ew::log::Logger Log{"tunnels"};

std::string MillisText(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

void GiveBack(std::map<std::string, size_t>& counts, const std::string& key) {
  auto it = counts.find(key);
  if (it != counts.end() && --it->second == 0) counts.erase(it);
}

// Takes a place for `key` unless it holds `cap` already (no entry is left behind then).
bool TryTake(std::map<std::string, size_t>& counts, const std::string& key, size_t cap) {
  auto it = counts.find(key);
  const size_t held = it == counts.end() ? 0 : it->second;
  if (held >= cap) return false;
  ++counts[key];
  return true;
}

}  // namespace

// One service's acceptor and books. The acceptor and `live` belong to the io thread; the
// counters are read from any thread.
struct TunnelManager::Listener : std::enable_shared_from_this<Listener> {
  Listener(net::io_context& io, Service s, SourceFilter f, size_t limit)
      : service(std::move(s)), filter(std::move(f)), max_connections(limit), acceptor(io) {}

  // Once the conductor port is known ("proxy" for the books of proxied HTTP requests).
  void AttachMetrics(metrics::Registry& m, const std::string& label = "") {
    // Labelled by conductor port, not service id: /metrics is public and names no registry
    // object (docs/SECURITY.md); the port is what anyone who can connect already knows.
    const std::string port = label.empty() ? std::to_string(service.conductor_port) : label;
    const metrics::Labels labels{{"port", port}};
    const char* bytes_help = "Bytes carried through a tunnel service (by its conductor port), by direction";
    to_board_counter = &m.GetCounter("ew_tunnel_bytes_total", bytes_help, {{"port", port}, {"direction", "to_board"}});
    from_board_counter = &m.GetCounter("ew_tunnel_bytes_total", bytes_help, {{"port", port}, {"direction", "from_board"}});
    open_gauge = &m.GetGauge("ew_tunnel_connections_open", "Live client connections of a tunnel service", labels);
    accepted_counter =
        &m.GetCounter("ew_tunnel_connections_total", "Client connections accepted on a tunnel service", labels);
    refused_counter = &m.GetCounter("ew_tunnel_connections_refused_total",
                                    "Client connections of a tunnel service closed before any byte was carried", labels);
  }

  void Accept(TunnelManager* manager) {
    acceptor.async_accept([self = shared_from_this(), manager](boost::system::error_code ec, tcp::socket socket) {
      if (self->closed) return;
      if (ec) {
        Log()->warn("service {}: accept failed: {}", self->service.id, ec.message());
        if (ec == net::error::operation_aborted) return;
        // Out of descriptors: accept again later rather than spin.
        auto pause = std::make_shared<net::steady_timer>(self->acceptor.get_executor(), std::chrono::milliseconds(500));
        pause->async_wait([self, manager, pause](boost::system::error_code) {
          if (!self->closed) self->Accept(manager);
        });
        return;
      }
      manager->OnAccepted(self, std::move(socket));
      self->Accept(manager);
    });
  }

  void Refused() {
    ++refused;
    refused_counter->Inc();
  }

  Service service;
  SourceFilter filter;
  size_t max_connections;
  tcp::acceptor acceptor;
  std::string error;   // set when the port could not be bound (no acceptor then)
  bool closed = false;  // io thread
  // Spliced connections' stop functions, by connection id (io thread).
  std::map<uint64_t, std::function<void(const std::string&)>> live;
  // Proxied connections' callers and boards, and the timers that end them with their caller's
  // token or session (io thread).
  // From the redemption of their token on, so that a revocation between it and the splice's
  // start is not missed.
  std::map<uint64_t, std::pair<ProxyCaller, std::string>> callers;
  std::map<uint64_t, std::unique_ptr<net::steady_timer>> deadlines;
  // Proxied connections ended (EndProxied) after their token was redeemed and before their
  // splice started, with the reason: the splice is stopped as it starts (io thread).
  std::map<uint64_t, std::string> ended_early;
  std::atomic<uint64_t> live_count{0};
  std::atomic<uint64_t> total{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> bytes_to_board{0};
  std::atomic<uint64_t> bytes_from_board{0};
  metrics::Counter* to_board_counter;
  metrics::Counter* from_board_counter;
  metrics::Gauge* open_gauge;
  metrics::Counter* accepted_counter;
  metrics::Counter* refused_counter;
};

// A client connection accepted and waiting for its board's tunnel WebSocket.
struct TunnelManager::Pending {
  Pending(tcp::socket s, std::shared_ptr<Listener> l, std::string t, std::string p)
      : socket(std::move(s)), listener(std::move(l)), token(std::move(t)), peer(std::move(p)), timer(socket.get_executor()) {}
  std::string board_id;  // set by AskBoard
  std::string project_id;  // set by AskBoard
  tcp::socket socket;  // a service's client; not open for a proxied request
  std::function<void(Error)> failed;        // a proxied request: told why instead of a closed socket
  std::function<void(std::any)> deliver;    // a proxied request: gets the board's WebSocket
  std::shared_ptr<Listener> listener;
  std::string token;
  std::string peer;
  net::steady_timer timer;
  std::optional<ProxyCaller> caller;  // a proxied request's
  std::optional<std::chrono::steady_clock::time_point> caller_deadline;  // when its token or session ends
  std::shared_ptr<server::ConnectionLimiter::Ticket> ticket;  // a service client's place under the caps
};

// The books of one spliced connection: what the splice moves and when it ends.
struct TunnelManager::Connection final : ew::net::SpliceObserver {
  Connection(std::shared_ptr<Listener> l, uint64_t i, std::string p, std::string b, std::string pr,
             std::shared_ptr<Counts> c)
      : listener(std::move(l)), id(i), peer(std::move(p)), board_id(std::move(b)), project_id(std::move(pr)),
        counts(std::move(c)) {}

  void OnStart(std::function<void(const std::string&)> stop) override {
    if (listener->closed) return stop("service deleted");
    if (auto early = listener->ended_early.find(id); early != listener->ended_early.end()) {
      const std::string why = early->second;
      return stop(why);
    }
    if (caller_deadline) {
      // The token's or session's end, counted from when the caller was checked (a past one
      // fires at once).
      auto timer = std::make_unique<net::steady_timer>(listener->acceptor.get_executor(), *caller_deadline);
      timer->async_wait([l = listener, i = id](boost::system::error_code ec) {
        if (ec) return;
        auto it = l->live.find(i);
        if (it != l->live.end()) it->second("the caller's token or proxy session expired");
      });
      listener->deadlines[id] = std::move(timer);
    }
    listener->live[id] = std::move(stop);
  }
  void OnBytes(bool to_websocket, size_t n) override {
    // The client's side is the TCP side: into the WebSocket = to the board.
    if (to_websocket) {
      listener->bytes_to_board += n;
      listener->to_board_counter->Inc(static_cast<double>(n));
    } else {
      listener->bytes_from_board += n;
      listener->from_board_counter->Inc(static_cast<double>(n));
    }
  }
  void OnEnd(const std::string& reason) override {
    GiveBack(counts->boards, board_id);
    GiveBack(counts->projects, project_id);
    if (caller) GiveBack(counts->users, caller->user_id);
    ticket.reset();
    listener->live.erase(id);
    listener->callers.erase(id);
    listener->deadlines.erase(id);
    listener->ended_early.erase(id);
    --listener->live_count;
    listener->open_gauge->Dec();
    if (caller) {
      Log()->info("proxied connection {} of user {} from {} to board {} ended: {}", id, caller->user_id, peer,
                  board_id, reason);
    } else {
      Log()->debug("service {}: connection {} from {} ended: {}", listener->service.id, id, peer, reason);
    }
  }

  std::shared_ptr<Listener> listener;
  uint64_t id;
  std::string peer;
  std::string board_id;
  std::string project_id;
  std::shared_ptr<Counts> counts;  // the manager's: this connection's places are given back at its end
  std::optional<ProxyCaller> caller;  // a proxied request's
  std::optional<std::chrono::steady_clock::time_point> caller_deadline;
  std::shared_ptr<server::ConnectionLimiter::Ticket> ticket;  // a service client's place under the caps
};

TunnelManager::TunnelManager(net::io_context& io, ServiceStore& store, router::BoardGateway& gateway,
                             const Clock& clock, metrics::Registry& metrics, TunnelOptions options)
    : io_(io),
      store_(store),
      gateway_(gateway),
      clock_(clock),
      metrics_(metrics),
      options_(std::move(options)),
      tokens_(clock, options_.open_timeout),
      proxy_sessions_(clock, options_.proxy_sessions) {}

TunnelManager::~TunnelManager() = default;

Result<std::shared_ptr<TunnelManager::Listener>> TunnelManager::Bind(const Service& service, bool allocate) {
  EW_TRY(SourceFilter filter, SourceFilter::Parse(service.allow_cidrs));
  const size_t limit = service.max_connections > 0 ? static_cast<size_t>(service.max_connections) : options_.max_connections;
  auto listener = std::make_shared<Listener>(io_, service, std::move(filter), limit);
  boost::system::error_code ec;
  const auto address = net::ip::make_address(options_.listen_address, ec);
  if (ec) return InvalidArgument("bad [tunnels] listen_address \"" + options_.listen_address + "\"");
  auto try_port = [&](uint16_t port) -> boost::system::error_code {
    boost::system::error_code e;
    auto& a = listener->acceptor;
    if (a.is_open()) a.close(e);
    a.open(address.is_v6() ? tcp::v6() : tcp::v4(), e);
    if (!e) a.set_option(net::socket_base::reuse_address(true), e);
    if (!e) a.bind(tcp::endpoint(address, port), e);
    if (!e) a.listen(net::socket_base::max_listen_connections, e);
    return e;
  };
  if (!allocate || options_.port_first == 0) {
    ec = try_port(allocate ? 0 : service.conductor_port);
    if (ec)
      return Unavailable("cannot listen on " + options_.listen_address + ":" + std::to_string(service.conductor_port) +
                         ": " + ec.message());
  } else {
    bool bound = false;
    for (uint32_t port = options_.port_first; port <= options_.port_last && !bound; ++port) {
      {
        std::lock_guard lock(mu_);
        bool used = false;
        for (const auto& [id, other] : listeners_) used = used || other->service.conductor_port == port;
        if (used) continue;
      }
      bound = !try_port(static_cast<uint16_t>(port));
    }
    if (!bound)
      return Unavailable("no free conductor port in " + std::to_string(options_.port_first) + ".." +
                         std::to_string(options_.port_last) + " ([tunnels] port_first/port_last)");
  }
  listener->service.conductor_port = listener->acceptor.local_endpoint(ec).port();
  listener->AttachMetrics(metrics_);
  return listener;
}

Result<void> TunnelManager::Start() {
  EW_TRY(auto services, store_.List(""));
  for (const Service& service : services) {
    if (!service.listen) continue;  // connect-only: nothing to bind (States reports it)
    auto listener = Bind(service, /*allocate=*/false);
    std::shared_ptr<Listener> kept;
    if (listener) {
      kept = std::move(*listener);
      Log()->info("service {}: listening on {}:{} for board {} port {}", service.id, options_.listen_address,
                  service.conductor_port, service.board_id, service.board_port);
      net::post(io_, [this, kept] { kept->Accept(this); });
    } else {
      Log()->error("service {}: {}; it serves nothing until deleted and created again", service.id,
                   listener.error().message);
      SourceFilter none;
      kept = std::make_shared<Listener>(io_, service, none, 0);
      kept->AttachMetrics(metrics_);
      kept->error = listener.error().message;
    }
    std::lock_guard lock(mu_);
    listeners_[service.id] = std::move(kept);
  }
  return Ok();
}

bool TunnelManager::ListensOnLoopback() const {
  boost::system::error_code ec;
  const auto address = net::ip::make_address(options_.listen_address, ec);
  return !ec && address.is_loopback();
}

Result<ServiceState> TunnelManager::Create(Service spec) {
  std::lock_guard create_lock(create_mu_);
  EW_TRY(auto existing, store_.List(spec.project_id));
  if (existing.size() >= options_.max_services_per_project)
    return ResourceExhausted("project " + spec.project_id + " has " + std::to_string(existing.size()) +
                             " services, the conductor's limit per project ([tunnels] max_services_per_project)");
  if (!spec.listen) {
    // Connect-only: a row and nothing else. A board deleted after the insert takes the row along
    // (ON DELETE CASCADE) and leaves nothing behind; the row is looked at again only so that the
    // caller is not told of a service that is already gone.
    spec.conductor_port = 0;
    EW_TRY_VOID(store_.Insert(spec));
    if (after_insert_for_test_) after_insert_for_test_(spec);
    if (auto row = store_.Get(spec.id); !row) {
      if (row.error().code != ErrorCode::kNotFound) {
        (void)store_.Delete(spec.id);  // the caller hears an error: nothing stays behind
        return tl::unexpected(row.error());
      }
      return NotFound("board " + spec.board_id + " was deleted while its service was being created");
    }
    Log()->info("service {}: connect-only for board {} port {} (project {})", spec.id, spec.board_id, spec.board_port,
                spec.project_id);
    return States({spec}).front();
  }
  EW_TRY(auto listener, Bind(spec, /*allocate=*/spec.conductor_port == 0));
  spec.conductor_port = listener->service.conductor_port;
  if (auto stored = store_.Insert(spec); !stored) {
    boost::system::error_code ignored;
    listener->acceptor.close(ignored);
    return tl::unexpected(stored.error());
  }
  if (after_insert_for_test_) after_insert_for_test_(spec);
  {
    std::lock_guard lock(mu_);
    listeners_[spec.id] = listener;
  }
  // A board deleted between the insert and the line above took the row along (ON DELETE
  // CASCADE), and its CloseBoard may have looked for the listener before it was published: look
  // at the row again now that CloseBoard would find the listener (security review 3, L6).
  if (auto row = store_.Get(spec.id); !row) {
    {
      std::lock_guard lock(mu_);
      auto it = listeners_.find(spec.id);
      if (it != listeners_.end() && it->second == listener) listeners_.erase(it);
    }
    net::post(io_, [this, listener] { CloseService(listener); });  // twice (with CloseBoard's) is harmless
    Log()->info("service {}: not opened, its board {} was deleted meanwhile", spec.id, spec.board_id);
    if (row.error().code != ErrorCode::kNotFound) {
      (void)store_.Delete(spec.id);  // unsure whether it is there: nothing left behind either way
      return tl::unexpected(row.error());
    }
    return NotFound("board " + spec.board_id + " was deleted while its service was being created");
  }
  Log()->info("service {}: listening on {}:{} for board {} port {} (project {})", spec.id, options_.listen_address,
              spec.conductor_port, spec.board_id, spec.board_port, spec.project_id);
  net::post(io_, [this, listener] { listener->Accept(this); });
  return States({spec}).front();
}

Result<void> TunnelManager::Delete(const std::string& id) {
  EW_TRY_VOID(store_.Delete(id));
  std::shared_ptr<Listener> listener;
  {
    std::lock_guard lock(mu_);
    auto it = listeners_.find(id);
    if (it != listeners_.end()) {
      listener = std::move(it->second);
      listeners_.erase(it);
    }
  }
  if (listener) net::post(io_, [this, listener] { CloseService(listener); });
  // Its authenticated connections (GET /v1/services/{id}/connect) go with it, open or opening.
  net::post(io_, [this, id] {
    EndProxied([id](const ProxyCaller& c, const std::string&) { return c.service_id == id; },
               "service " + id + " was deleted");
  });
  Log()->info("service {}: deleted", id);
  return Ok();
}

void TunnelManager::CloseBoard(const std::string& board_id) {
  std::vector<std::shared_ptr<Listener>> closing;
  {
    std::lock_guard lock(mu_);
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      if (it->second->service.board_id == board_id) {
        closing.push_back(std::move(it->second));
        it = listeners_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // The rows went with the board (ON DELETE CASCADE); any left (another store) go too.
  for (const auto& listener : closing) (void)store_.Delete(listener->service.id);
  net::post(io_, [this, closing, board_id] {
    for (const auto& listener : closing) {
      Log()->info("service {}: closed, its board {} was deleted", listener->service.id, board_id);
      CloseService(listener);
    }
    EndProxied([board_id](const ProxyCaller&, const std::string& board) { return board == board_id; },
               "board " + board_id + " deleted");
  });
}

size_t TunnelManager::EndProxied(ProxyCovered covered, const std::string& reason) {
  PruneProxyEnds();
  proxy_ends_.push_back(ProxyEnd{++proxy_end_mark_, covered, reason, std::chrono::steady_clock::now()});
  // Waiting for the board's tunnel WebSocket: closed now, and their tokens forgotten, so that a
  // late dial of the board is refused (security review 2, finding 1).
  std::vector<uint64_t> waiting;
  for (const auto& [id, pending] : pending_) {
    if (pending->caller && covered(*pending->caller, pending->board_id)) waiting.push_back(id);
  }
  for (uint64_t id : waiting) Cancel(id, reason, ErrorCode::kPermissionDenied);
  size_t ended = waiting.size();
  if (!proxy_) return ended;
  std::vector<std::function<void(const std::string&)>> stops;
  for (const auto& [id, who] : proxy_->callers) {
    if (!covered(who.first, who.second)) continue;
    ++ended;
    auto it = proxy_->live.find(id);
    if (it != proxy_->live.end()) {
      stops.push_back(it->second);
    } else {
      proxy_->ended_early[id] = reason;  // redeemed, its splice not started yet: stopped as it starts
    }
  }
  for (auto& stop : stops) stop(reason);
  return ended;
}

void TunnelManager::PruneProxyEnds() {
  // A request is checked and reaches the io thread well within open_timeout; a notice is kept
  // that long (and at most kKept of them: a flood of revocations costs bounded memory; a request
  // checked before the oldest kept one is refused, to be tried again).
  constexpr size_t kKept = 4096;
  const auto oldest = std::chrono::steady_clock::now() - options_.open_timeout;
  while (!proxy_ends_.empty() && (proxy_ends_.front().at < oldest || proxy_ends_.size() > kKept)) {
    proxy_ends_pruned_ = proxy_ends_.front().mark;
    proxy_ends_.pop_front();
  }
}

void TunnelManager::CloseService(const std::shared_ptr<Listener>& listener) {
  listener->closed = true;
  boost::system::error_code ignored;
  listener->acceptor.close(ignored);
  std::vector<uint64_t> waiting;
  for (const auto& [id, pending] : pending_) {
    if (pending->listener == listener) waiting.push_back(id);
  }
  for (uint64_t id : waiting) Cancel(id, "service deleted");
  auto live = std::move(listener->live);
  for (auto& [id, stop] : live) stop("service deleted");
}

Result<ServiceState> TunnelManager::Get(const std::string& id) const {
  EW_TRY(Service service, store_.Get(id));
  return States({service}).front();
}

Result<std::vector<ServiceState>> TunnelManager::List(const std::string& project_id) const {
  EW_TRY(auto services, store_.List(project_id));
  return States(services);
}

std::vector<ServiceState> TunnelManager::States(const std::vector<Service>& services) const {
  std::vector<ServiceState> out;
  std::lock_guard lock(mu_);
  for (const Service& service : services) {
    ServiceState state;
    state.service = service;
    if (!service.listen) {
      // No listener of its own: its connections go through GET /v1/services/{id}/connect, counted
      // with the proxied ones (the "proxy" books).
      state.state = "connect-only";
      out.push_back(std::move(state));
      continue;
    }
    auto it = listeners_.find(service.id);
    if (it == listeners_.end()) {
      state.state = "error";
      state.error = "not listening";
    } else {
      const Listener& l = *it->second;
      state.state = l.error.empty() ? "listening" : "error";
      state.error = l.error;
      state.live_connections = l.live_count;
      state.total_connections = l.total;
      state.refused_connections = l.refused;
      state.bytes_to_board = l.bytes_to_board;
      state.bytes_from_board = l.bytes_from_board;
    }
    out.push_back(std::move(state));
  }
  return out;
}

void TunnelManager::OnAccepted(const std::shared_ptr<Listener>& listener, tcp::socket socket) {
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return;  // gone already
  const std::string peer = remote.address().to_string() + ":" + std::to_string(remote.port());
  const Service& service = listener->service;
  ++listener->total;
  listener->accepted_counter->Inc();
  auto refuse = [&](const std::string& why) {
    listener->Refused();
    Log()->info("service {}: connection from {} closed: {}", service.id, peer, why);
    boost::system::error_code ignored;
    socket.close(ignored);
  };
  if (!listener->filter.Allows(remote.address())) return refuse("source address not in the service's allowCidrs");
  if (listener->live_count >= listener->max_connections)
    return refuse("the service's " + std::to_string(listener->max_connections) + " connections are in use");
  std::shared_ptr<server::ConnectionLimiter::Ticket> ticket;
  if (limiter_) {
    server::ConnectionLimiter::Verdict verdict;
    ticket = limiter_->TryAcquire(remote.address().to_string(), &verdict);
    if (!ticket) {
      return refuse(verdict == server::ConnectionLimiter::Verdict::kGlobalCap
                        ? "the conductor's connection cap ([server] max_connections) is reached"
                        : "the per-address cap ([server] max_connections_per_address) is reached for this source");
    }
  }
  auto presence = gateway_.Presence(service.board_id);
  if (!presence) return refuse("board " + service.board_id + " is offline");

  auto pending = std::make_unique<Pending>(std::move(socket), listener, "", peer);
  pending->ticket = std::move(ticket);
  if (auto asked = AskBoard(listener, presence->session_id, std::move(pending), service.board_id, service.board_port,
                            service.id, service.project_id);
      !asked) {
    listener->Refused();
    Log()->info("service {}: connection from {} closed: {}", service.id, peer, asked.error().message);
  }
}


Result<void> TunnelManager::AskBoard(const std::shared_ptr<Listener>& listener, uint64_t session_id,
                                     std::unique_ptr<Pending> pending, const std::string& board_id, uint16_t port,
                                     const std::string& service_id, const std::string& project_id) {
  Counts& counts = *counts_;
  if (!TryTake(counts.boards, board_id, options_.max_tunnels_per_board))
    return Unavailable("board " + board_id + " has " + std::to_string(options_.max_tunnels_per_board) +
                       " tunnels open, the conductor's limit per board ([tunnels] max_per_board)");
  if (!TryTake(counts.projects, project_id, options_.max_connections_per_project)) {
    GiveBack(counts.boards, board_id);
    return ResourceExhausted("project " + project_id + " has " + std::to_string(options_.max_connections_per_project) +
                             " tunnelled connections open, the conductor's limit per project ([tunnels] "
                             "max_connections_per_project)");
  }
  if (pending->caller && !TryTake(counts.users, pending->caller->user_id, options_.max_proxied_per_user)) {
    GiveBack(counts.boards, board_id);
    GiveBack(counts.projects, project_id);
    return ResourceExhausted("user " + pending->caller->user_name + " has " +
                             std::to_string(options_.max_proxied_per_user) +
                             " proxied connections open, the conductor's limit per user ([tunnels] "
                             "max_proxied_per_user)");
  }
  pending->board_id = board_id;
  pending->project_id = project_id;
  const uint64_t id = next_connection_id_++;
  // Waiting ends at open_timeout, or sooner when a proxied caller's token or session ends.
  std::string why_late = "the board did not dial its tunnel back within " + MillisText(options_.open_timeout);
  ErrorCode late_code = ErrorCode::kUnavailable;
  pending->timer.expires_after(options_.open_timeout);
  if (pending->caller_deadline && *pending->caller_deadline < pending->timer.expiry()) {
    pending->timer.expires_at(*pending->caller_deadline);
    why_late = "the caller's token or proxy session expired before the board's tunnel arrived";
    late_code = ErrorCode::kPermissionDenied;
  }
  TokenGrant grant{service_id, board_id, session_id, id, {}};
  std::string token = tokens_.Issue(std::move(grant));
  pending->token = token;
  const std::string peer = pending->peer;
  ++listener->live_count;
  listener->open_gauge->Inc();
  pending->timer.async_wait([this, id, why_late, late_code](boost::system::error_code wait_ec) {
    if (!wait_ec) Cancel(id, why_late, late_code);
  });
  pending_[id] = std::move(pending);
  Log()->debug("{}: connection {} from {}: asking board {} to open port {}", service_id, id, peer, board_id, port);

  contract::tunnel::OpenRequest request{token, port, service_id};
  gateway_.CallBoard(board_id, contract::tunnel::kOpen.suffix, request.ToPayload(), options_.open_timeout,
                     [this, id](Result<wamp::Payload> reply) {
                       if (reply) return;
                       net::post(io_, [this, id, why = reply.error().message] {
                         Cancel(id, "the board could not open the tunnel: " + why);
                       });
                     });
  return Ok();
}

void TunnelManager::OpenProxy(const std::string& board_id, uint16_t port, const std::string& peer, ProxyCaller caller,
                              std::function<void(Error)> failed, std::function<void(std::any)> deliver) {
  if (!proxy_) {
    Service books;
    books.id = "proxy";
    proxy_ = std::make_shared<Listener>(io_, books, SourceFilter{}, options_.max_proxied);
    proxy_->AttachMetrics(metrics_, "proxy");
  }
  if (proxy_->live_count >= proxy_->max_connections)
    return failed(Error{ErrorCode::kResourceExhausted, "the conductor has " + std::to_string(proxy_->max_connections) +
                                                           " proxied connections open, its limit ([tunnels] max_proxied)"});
  ++proxy_->total;
  proxy_->accepted_counter->Inc();
  // Revoked (or its board deleted) after the caller was checked and before this ran.
  PruneProxyEnds();
  if (proxy_ends_pruned_ > caller.checked_after) {
    proxy_->Refused();
    return failed(Error{ErrorCode::kUnavailable, "the caller's check is older than [tunnels] open_timeout_ms; try again"});
  }
  for (const ProxyEnd& end : proxy_ends_) {
    if (end.mark > caller.checked_after && end.covered(caller, board_id)) {
      proxy_->Refused();
      Log()->info("proxy: user {} ({}) from {} to board {} port {} refused: {}", caller.user_name, caller.user_id,
                  peer, board_id, port, end.reason);
      return failed(Error{ErrorCode::kPermissionDenied, end.reason});
    }
  }
  auto presence = gateway_.Presence(board_id);
  if (!presence) {
    proxy_->Refused();
    return failed(Error{ErrorCode::kUnavailable, "board " + board_id + " is offline"});
  }
  // The audit trail of proxy use: who reached which board's port from where (no secrets).
  Log()->info("proxy: user {} ({}) from {} to board {} port {}", caller.user_name, caller.user_id, peer, board_id,
              port);
  auto pending = std::make_unique<Pending>(tcp::socket(io_), proxy_, "", peer);
  if (caller.time_left.count() > 0) pending->caller_deadline = std::chrono::steady_clock::now() + caller.time_left;
  const std::string project_id = caller.project_id;
  pending->caller = std::move(caller);
  pending->failed = failed;
  pending->deliver = std::move(deliver);
  if (auto asked =
          AskBoard(proxy_, presence->session_id, std::move(pending), board_id, port, "proxy to " + board_id, project_id);
      !asked) {
    proxy_->Refused();
    failed(asked.error());
  }
}

void TunnelManager::Cancel(uint64_t connection_id, const std::string& reason, ErrorCode code) {
  auto it = pending_.find(connection_id);
  if (it == pending_.end()) return;  // redeemed or cancelled already
  std::unique_ptr<Pending> pending = std::move(it->second);
  pending_.erase(it);
  tokens_.Forget(pending->token);
  GiveBack(counts_->boards, pending->board_id);
  GiveBack(counts_->projects, pending->project_id);
  if (pending->caller) GiveBack(counts_->users, pending->caller->user_id);
  pending->timer.cancel();
  boost::system::error_code ignored;
  pending->socket.close(ignored);
  if (pending->failed) pending->failed(Error{code, reason});
  auto& listener = *pending->listener;
  --listener.live_count;
  listener.open_gauge->Dec();
  listener.Refused();
  Log()->info("service {}: connection {} from {} closed: {}", listener.service.id, connection_id, pending->peer,
              reason);
}

Result<server::TunnelEnd> TunnelManager::Redeem(const std::string& token, const std::string& board_id,
                                                const std::string& peer) {
  if (!contract::tunnel::IsTokenShaped(token)) return PermissionDenied("malformed tunnel token");
  EW_TRY(TokenGrant grant, tokens_.Redeem(token, board_id));
  auto it = pending_.find(grant.connection_id);
  if (it == pending_.end()) return NotFound("the connection of this tunnel token has gone");
  auto presence = gateway_.Presence(board_id);
  if (!presence || presence->session_id != grant.session_id) {
    Cancel(grant.connection_id, "tunnel token presented after the board's session that received it ended");
    return PermissionDenied("tunnel token was issued on a session of board " + board_id + " that has ended");
  }
  std::unique_ptr<Pending> pending = std::move(it->second);
  pending_.erase(it);
  pending->timer.cancel();
  Log()->debug("service {}: connection {} from {} spliced to the tunnel from {}", grant.service_id,
               grant.connection_id, pending->peer, peer);
  auto observer = std::make_shared<Connection>(pending->listener, grant.connection_id, pending->peer,
                                               pending->board_id, pending->project_id, counts_);
  if (pending->caller) {
    // Kept from now on: a revocation before the splice starts ends it as it starts (OnStart).
    pending->listener->callers[grant.connection_id] = {*pending->caller, pending->board_id};
  }
  observer->caller = std::move(pending->caller);
  observer->caller_deadline = pending->caller_deadline;
  observer->ticket = std::move(pending->ticket);
  return server::TunnelEnd{std::move(pending->socket), std::move(observer), std::move(pending->deliver)};
}

void TunnelManager::Stop() {
  std::map<std::string, std::shared_ptr<Listener>> listeners;
  {
    std::lock_guard lock(mu_);
    listeners = listeners_;
  }
  for (auto& [id, listener] : listeners) CloseService(listener);
}

}  // namespace ew::conductor::tunnels
