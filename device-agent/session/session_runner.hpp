// The board's reverse session with the conductor: connect, join with WAMP-CRA, register the
// board procedures, and when the connection ends for any reason (conductor killed, network
// gone, silent peer, refused join) start over as ReconnectPolicy says — probing a conductor
// that is away, backing off long when it refused the board — forever, until Stop(). Free of
// Autobahn types: they stay in session_runner.cpp and session_connect.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "device-agent/rpc/conductor_client.hpp"
#include "device-agent/rpc/procedure.hpp"
#include "device-agent/session/backoff.hpp"
#include "device-agent/session/reconnect_policy.hpp"
#include "device-agent/session/session_observer.hpp"
#include "device-agent/tls/conductor_trust.hpp"

namespace ew::agent::session {

struct SessionOptions {
  std::string url;       // wss://host:port/ws or ws://host:port/ws
  std::string realm;     // "edgewire"
  std::string board_id;  // WAMP authid and the ew.board.<id> prefix
  std::string secret;    // WAMP-CRA secret; never logged
  tls::ConductorTrust trust;  // wss: how the conductor's certificate is checked (from the credential)
  // Backoff after a failure other than an unreachable conductor or a refusal (join timeout,
  // registration conflict, TLS): first window and cap.
  std::chrono::milliseconds reconnect_initial{500};
  std::chrono::milliseconds reconnect_max{30'000};
  // Conductor unreachable (connection refused or lost): a TCP probe of its port every
  // probe_interval ± 1/3, a full connect as soon as one succeeds; a probe gives up after
  // probe_timeout (a cut network answers nothing).
  std::chrono::milliseconds probe_interval{750};
  std::chrono::milliseconds probe_timeout{2'000};
  // The conductor refused the board (deleted, wrong secret, unknown id): long backoff.
  std::chrono::milliseconds refused_initial{30'000};
  std::chrono::milliseconds refused_max{600'000};
  // A session that stayed up this long counts as healthy: the next failure starts the
  // backoff from reconnect_initial again.
  std::chrono::milliseconds stable_after{10'000};
  // From "connecting" to WELCOME and all REGISTERED; a router that stalls is dropped.
  std::chrono::milliseconds join_timeout{15'000};
  // Liveness: ping after this much silence, give up after idle_timeout without any frame. These
  // hold until the conductor says its heartbeat terms (WELCOME, every ping): then the board pings
  // after the conductor's timeout (at most a minute) and gives up after twice that, never sooner than these
  // (WsTransport::AdoptHeartbeat; shipped 4 s / 8 s). 8 s of silence means a dead path (NAT,
  // cable, power). Short, because until the agent notices, what it publishes goes into a dead
  // socket (issue 14: was 10 s / 30 s).
  std::chrono::milliseconds ping_interval{2'000};
  std::chrono::milliseconds idle_timeout{8'000};
  // Shutdown: wait this long for the router's GOODBYE, then close the WebSocket.
  std::chrono::milliseconds leave_timeout{300};
  // Shutdown: done() is called by then at the latest, whatever the peer does.
  std::chrono::milliseconds stop_timeout{800};
  size_t max_message_bytes = 1 << 20;  // larger incoming frames close the connection
};

class SessionRunner : public rpc::ConductorClient {
 public:
  // Everything runs on `io`'s one thread (the agent runs exactly one; the WebSocket connection
  // takes no locks, see ws_transport.hpp). `procedures` are
  // registered as ew.board.<board_id>.<suffix> in each session. `observer` may be null and
  // must outlive the runner.
  SessionRunner(boost::asio::io_context& io, SessionOptions options, rpc::ProcedureTable procedures,
                SessionObserver* observer = nullptr, Backoff::RandomSource random = Backoff::DefaultRandom());
  // Destroy after io.run() has returned (or before it ever ran).
  ~SessionRunner() override;
  SessionRunner(const SessionRunner&) = delete;
  SessionRunner& operator=(const SessionRunner&) = delete;

  // Subscribed in every session, before the board counts as ready. Before Start().
  void AddSubscription(rpc::Subscription subscription);
  // Another observer (modules that keep per-session state: GPIO watches). Before Start();
  // must outlive the runner.
  void AddObserver(SessionObserver* observer);

  // Begins the first connection attempt. Call from the io thread or before io.run().
  void Start();
  // Leaves the session (GOODBYE), closes the WebSocket and stops reconnecting; `done` runs on
  // the io thread once closed, or after options.stop_timeout at the latest. Io thread only.
  void Stop(std::function<void()> done);
  // Calls a conductor procedure over the current session (rpc::ConductorClient). Io thread.
  void Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds timeout,
            std::function<void(ew::Result<rpc::Reply>)> done) override;
  bool Publish(const std::string& topic, const rpc::Reply& payload) override;
  void Subscribe(const std::string& topic, std::function<void(const rpc::Request&)> handler) override;
  void Unsubscribe(const std::string& topic) override;
  // What the reconnect loop is doing (sys.info). Io thread.
  ReconnectState state() const;
  const std::string& last_disconnect_reason() const;
  uint64_t connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// "1.3s", "250ms": how delays appear in logs and systemd status.
std::string FormatDelay(std::chrono::milliseconds delay);

}  // namespace ew::agent::session
