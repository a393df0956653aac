// Calls from the board to the conductor's own procedures (ew.conductor.*), such as fetching a
// function package, and the board's publications (GPIO edges). Implemented by the session
// runner over the live WAMP session; modules see only this, so they stay free of Autobahn and
// testable with a fake.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "device-agent/rpc/procedure.hpp"

namespace ew::agent::rpc {

class ConductorClient {
 public:
  virtual ~ConductorClient() = default;
  // Calls `procedure` (a full URI, "ew.conductor.fn.fetch"). `done` runs exactly once on the
  // agent's io thread: Unavailable when there is no session, DeadlineExceeded after `timeout`,
  // or the conductor's error mapped back to its code. Io thread only.
  virtual void Call(const std::string& procedure, Reply arguments, std::chrono::milliseconds timeout,
                    std::function<void(ew::Result<Reply>)> done) = 0;
  // Publishes an event (a full topic URI, "ew.board.<id>.gpio.event") without acknowledgement.
  // False, and nothing sent, when there is no session. Io thread only.
  virtual bool Publish(const std::string& topic, const Reply& payload) = 0;
  // Subscribes to `topic` now when a session is up, and again in every later session, until
  // Unsubscribe (flow cross wires come and go with deploys). `handler` gets each event's args and
  // kwargs (Request::procedure = the topic) on the io thread; events already on their way may
  // still arrive after Unsubscribe. A refused SUBSCRIBE is logged, not retried until the next
  // session. Io thread only.
  virtual void Subscribe(const std::string& topic, std::function<void(const Request&)> handler) {}
  virtual void Unsubscribe(const std::string& topic) {}
};

}  // namespace ew::agent::rpc
