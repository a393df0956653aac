// `edgewire tunnel connect`: a service's authenticated connections (GET
// /v1/services/{id}/connect, a WebSocket with the user's API token) for local programs. Each
// local TCP connection (or stdin/stdout) gets a WebSocket of its own, spliced with the same
// WsSplice the conductor and agents use (common/net/ws_splice.hpp: binary messages are the bytes,
// "FIN" a half-close), so back-pressure and half-close behave as on a service's conductor port.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "cloud-conductor/cli/http_client.hpp"
#include "common/error/error.hpp"

namespace ew::cli {

struct ConnectOptions {
  std::string listen_host = "127.0.0.1";  // --listen HOST:PORT; loopback unless told
  uint16_t listen_port = 0;               // 0 = a free port, printed
  bool stdio = false;                     // one connection on stdin/stdout, then exit
  std::chrono::milliseconds timeout{30'000};  // connecting and the WebSocket handshake
};

class ServiceConnector {
 public:
  ServiceConnector(Url url, std::string token, std::string ca_file, std::string service_id, ConnectOptions options);
  ~ServiceConnector();
  ServiceConnector(const ServiceConnector&) = delete;
  ServiceConnector& operator=(const ServiceConnector&) = delete;

  // Binds the local port, writes "listening on HOST:PORT\n" to `out`, then serves until the
  // process ends: each accepted connection gets its own WebSocket (a refused one is closed and
  // logged to `err`). Unavailable when the port cannot be bound.
  Result<void> Listen(std::ostream& out, std::ostream& err);
  // One connection between stdin/stdout and the service, until both directions ended. The
  // conductor's refusal (401, 403, 404, 429, 503) is an error of that kind with its message.
  Result<void> Stdio(std::ostream& err);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ew::cli
