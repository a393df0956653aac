// `edgewire tunnel ...`: reverse tunnels to services on boards (REST /v1/services). BOARD is a
// board id or name; SERVICE a service id. Errors as in commands.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cloud-conductor/cli/commands.hpp"
#include "common/error/error.hpp"

namespace ew::cli {

struct TunnelOpenOptions {
  int64_t conductor_port = 0;        // 0 = the conductor allocates one
  int64_t max_connections = 0;       // 0 = the conductor's default
  std::vector<std::string> allow;    // source CIDRs; empty = any
  bool listen = true;                // --no-listen: connect-only, no conductor port
};

// Opens a service: the conductor listens on a port of its own and tunnels each connection to
// 127.0.0.1:PORT on the board. Prints "service <id>: <conductor host>:<port> -> <board>:<port>".
// With listen false (--no-listen) no port is opened: the service is reachable only through
// `tunnel connect`; prints "service <id>: connect-only -> <board>:<port> (edgewire tunnel connect <id>)".
Result<void> TunnelOpen(Context& ctx, const std::string& board, int64_t board_port, const TunnelOpenOptions& options);
// ID BOARD BOARD-PORT CONDUCTOR-PORT STATE LIVE BYTES-IN BYTES-OUT; a connect-only service shows
// CONDUCTOR-PORT "-" and STATE "connect-only".
Result<void> TunnelList(Context& ctx);
struct TunnelConnectOptions {
  std::string listen = "127.0.0.1:0";  // --listen [HOST:]PORT; port 0 = a free one (printed)
  bool stdio = false;                  // --stdio: one connection on stdin/stdout (ssh ProxyCommand)
};

// Connects to a service through the conductor's authenticated route (GET
// /v1/services/{id}/connect, with the logged-in user's token): listens locally and gives each
// local connection a WebSocket of its own, or (--stdio) carries stdin/stdout. Listening prints
// "listening on HOST:PORT -> service ID" and serves until interrupted. InvalidArgument for a bad
// --listen; the conductor's refusal as its error (Unauthenticated, PermissionDenied, NotFound).
Result<void> TunnelConnect(Context& ctx, const std::string& service, const TunnelConnectOptions& options);
// Deletes the service: its port closes and its live connections are cut.
Result<void> TunnelClose(Context& ctx, const std::string& service);

}  // namespace ew::cli
