// The router's view of one connected peer: a framed, ordered, message transport. The conductor's
// WebSocket sessions implement it; router unit tests use an in-memory one.
#pragma once

#include <optional>
#include <string>

#include "common/wamp/codec.hpp"
#include "common/wamp/heartbeat.hpp"

namespace ew::router {

class Transport {
 public:
  virtual ~Transport() = default;
  // Queues one frame, already encoded with serializer(). Called on the router's executor; never
  // blocks; frames go out in call order. A transport that is closing drops frames silently.
  virtual void Send(std::string frame) = 0;
  // Starts a clean close (WebSocket close frame with `reason`); the peer's OnClose follows.
  virtual void Close(const std::string& reason) = 0;
  virtual wamp::Serializer serializer() const = 0;
  virtual const std::string& peer() const = 0;
  // The heartbeat the transport holds its peer to now, for WELCOME to tell it (the transport
  // remembers what its peer was told); none when the transport has none (in-memory test ones).
  virtual std::optional<wamp::HeartbeatTerms> TellHeartbeat() { return std::nullopt; }
};

// What the router gives back for each attached transport: the transport feeds it frames.
class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // One complete WebSocket message. Called on the router's executor.
  virtual void OnFrame(std::string_view frame) = 0;
  // The connection is gone (closed by either side or failed). Called once, on the router's executor.
  virtual void OnClose() = 0;
};

}  // namespace ew::router
