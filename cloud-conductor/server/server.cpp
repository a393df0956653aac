// The listener of the conductor's port: the accept loop, the connection caps applied on accept,
// the TLS context (loaded at start, swapped on reload) and Server's public face. Each accepted
// connection becomes an HttpSession (http_session.hpp) over plain TCP or TLS (tls_stream.hpp),
// which may hand its stream to a WsSession or an SseSession.
#include "cloud-conductor/server/server.hpp"

#include <chrono>
#include <memory>
#include <string>

#include "cloud-conductor/server/http_session.hpp"
#include "cloud-conductor/server/server_impl.hpp"
#include "cloud-conductor/server/tls_context.hpp"
#include "common/net/loopback.hpp"

namespace ew::server {

void Server::Impl::DoAccept() {
  acceptor.async_accept(io, [self = shared_from_this()](beast::error_code ec, TcpSocket socket) {
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

std::shared_ptr<ConnectionLimiter> Server::connection_limiter() const { return impl_->limiter; }

void Server::Impl::OnAccepted(TcpSocket socket) {
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
    std::make_shared<HttpSession<TlsStream>>(TlsStream(std::move(socket), tls->native_handle()), self, std::move(peer),
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

void Server::EndSessions() {
  if (!impl_) return;
  // Every WebSocket still open or closing ends now. Each is taken out of the set before it is
  // told, so the loop ends whatever it does; one that a callback destroys has left it already.
  while (!impl_->sessions.empty()) {
    auto* member = *impl_->sessions.begin();
    impl_->sessions.erase(impl_->sessions.begin());
    member->ServerStopping();
  }
}

Result<void> Server::ReloadTls() {
  if (!impl_->tls) return InvalidArgument("the server is not serving TLS: nothing to reload");
  EW_TRY(auto context, LoadTlsServerContext(impl_->options.tls_cert_file, impl_->options.tls_key_file));
  impl_->tls = std::move(context);
  return Ok();
}

bool Server::is_tls() const { return impl_->tls != nullptr; }

void Server::SetTunnelAccept(TunnelAccept accept) { impl_->tunnel_accept = std::move(accept); }

void Server::SetProxyOpen(ProxyOpen open) { impl_->proxy_open = std::move(open); }
void Server::SetServiceConnect(ProxyOpen connect) { impl_->service_connect = std::move(connect); }

}  // namespace ew::server
