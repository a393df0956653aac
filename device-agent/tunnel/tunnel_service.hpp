// ew.board.<id>.tunnel.open on the board (docs/ARCHITECTURE.md "Tunnels"): connect to
// 127.0.0.1:<port>, answer once connected (a refused port is the call's error, so the
// conductor closes its client at once), then dial a tunnel WebSocket to the conductor,
// /v1/tunnel/<token> on the host and port of the board's own WAMP URL, with the same TLS
// checks as the WAMP session (tls::MakeClientContext over the credential's trust), and splice
// the two (common/net/ws_splice.hpp).
//
// Threading: everything on the agent's io thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "device-agent/rpc/procedure.hpp"
#include "device-agent/tls/conductor_trust.hpp"

namespace ew::agent::tunnel {

struct TunnelServiceOptions {
  std::string board_id;
  // The session's URL ("wss://conductor.example:8443/ws"): tunnels dial its scheme, host and
  // port, never an address the conductor names in the call.
  std::string conductor_url;
  tls::ConductorTrust trust;  // as the WAMP session checks the conductor's certificate
  // Connecting to 127.0.0.1:<port>, and dialling the conductor (TCP, TLS, WebSocket handshake).
  std::chrono::milliseconds connect_timeout{5'000};
  size_t max_tunnels = 256;  // open at once; more → tunnel.open answers Unavailable
  // The tunnel WebSocket is pinged after this long without a word from the conductor and closed
  // (with the local connection) when the next interval brings nothing. 0 = off.
  std::chrono::milliseconds ping_interval{15'000};
};

class TunnelService {
 public:
  TunnelService(boost::asio::io_context& io, TunnelServiceOptions options);
  ~TunnelService();

  // tunnel.open.
  rpc::ProcedureTable Procedures();
  // Tunnels open now (connecting or spliced).
  size_t open_tunnels() const;

  struct State;  // shared with the tunnels in flight

 private:
  void Open(const rpc::Request& request, rpc::Responder respond);

  boost::asio::io_context& io_;
  std::shared_ptr<State> state_;
};

}  // namespace ew::agent::tunnel
