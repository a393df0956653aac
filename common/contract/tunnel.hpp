// ew.board.<id>.tunnel.*: reverse tunnels (docs/ARCHITECTURE.md "Tunnels"). For each TCP
// connection a client opens on a service's conductor port, the conductor calls tunnel.open on
// the service's board; the board connects to 127.0.0.1:<port> and, once connected, answers and
// dials a tunnel WebSocket back to the conductor (path /v1/tunnel/<token>) carrying the bytes.
#pragma once

#include <cstdint>
#include <string>

#include "common/contract/procedure.hpp"

namespace ew::contract::tunnel {

// Every procedure of this family, "tunnel.*", is the conductor's to call: the router and the
// REST calls route refuse it to everyone else, admins included (security review 3, L4).
inline constexpr char kPrefix[] = "tunnel";

// Longest `service` accepted, and its characters: [A-Za-z0-9._ -] (it goes into the board's log
// lines; no control character or newline can forge one).
inline constexpr size_t kMaxServiceChars = 128;

// Longest token accepted: the conductor issues 43 characters (32 random bytes, base64url).
inline constexpr size_t kMaxTokenChars = 128;

// tunnel.open request: {token, port, service}. `token` is single-use and short-lived; it is
// the only thing that ties the WebSocket the board dials to this connection. `service` is for
// the board's logs.
struct OpenRequest {
  std::string token;    // [A-Za-z0-9_-]{16,128}
  uint32_t port = 0;    // 1..65535, on the board's loopback
  std::string service;  // the service id, "svc-...", or "proxy to <board>"; see kMaxServiceChars
  wamp::Payload ToPayload() const;
  static Result<OpenRequest> Parse(const wamp::Payload& payload);
};

// tunnel.open reply: {} once the board's connection to 127.0.0.1:<port> is up (the WebSocket
// follows). A refused or unreachable port is an error (Unavailable) naming the reason.
inline constexpr BoardProcedure<OpenRequest, Empty> kOpen{"tunnel.open"};

// True for a token's shape: [A-Za-z0-9_-], 16 to kMaxTokenChars characters. Says nothing of
// whether it was issued.
bool IsTokenShaped(const std::string& token);

}  // namespace ew::contract::tunnel
