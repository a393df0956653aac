// What the owner of a tunnel splice (common/net/ws_splice.hpp) hears from it, free of Beast so
// that the modules that keep tunnels' books (the conductor's TunnelManager) do not include it.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace ew::net {

// Called on the splice's executor (one io thread).
class SpliceObserver {
 public:
  virtual ~SpliceObserver() = default;
  // Once, when the splice starts: `stop` ends it (both streams closed) when called on that
  // executor; it does nothing once the splice is over.
  virtual void OnStart(std::function<void(const std::string& reason)> stop) { (void)stop; }
  // `n` bytes went from the TCP side into the WebSocket (to_websocket) or the other way.
  virtual void OnBytes(bool to_websocket, size_t n) = 0;
  // Exactly once, when both streams are closed; `reason` is for logs ("closed" when both sides
  // ended normally).
  virtual void OnEnd(const std::string& reason) = 0;
};

}  // namespace ew::net
