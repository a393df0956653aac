// The conductor's one network port: HTTP/1.1 with keep-alive for REST and WebSocket upgrades
// (path /ws) for WAMP, on Boost.Beast. Beast stays inside server/*.cpp; this header is light.
//
// Threading: the server runs on a single io_context thread shared with the router, so router
// state and session write queues need no locks; anything blocking goes to the blocking pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cloud-conductor/router/transport.hpp"
#include "cloud-conductor/server/http_types.hpp"
#include "common/error/error.hpp"

namespace boost::asio {
class io_context;
}

namespace ew::server {

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;                                     // 0 = any free port
  size_t max_message_bytes = 1 << 20;                    // WebSocket message limit; larger → close 1009
  size_t max_http_body_bytes = 1 << 20;                  // request body limit; larger → 413
  // Paths that take larger bodies (function package uploads), and their limit.
  std::vector<std::string> large_body_paths;
  size_t max_large_http_body_bytes = 16 << 20;
  // Bytes queued to one WebSocket that it has not read yet. A peer that stops reading (or a
  // link too slow for its subscriptions) is disconnected past this instead of growing the
  // conductor's memory without bound.
  size_t max_queued_bytes = 8 << 20;
  std::chrono::milliseconds heartbeat_timeout{4'000};    // silent WebSocket → ping at half, closed at this
  std::chrono::seconds handshake_timeout{10};            // WebSocket opening/closing handshake
  std::chrono::seconds http_idle_timeout{60};            // keep-alive connection with no request
};

// Called for each new WAMP WebSocket, on the io thread; returns who receives its frames.
using WampAccept = std::function<std::shared_ptr<router::TransportHandler>(std::shared_ptr<router::Transport>)>;

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options, HttpHandler& http, WampAccept accept);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts accepting. Returns the bound port. Unavailable when the address is taken.
  Result<uint16_t> Start();
  // Stops accepting new connections (open ones live on until the io_context stops).
  void Stop();

  struct Impl;  // Beast state, in server.cpp

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace ew::server
