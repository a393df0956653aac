// Cross-board wire messages held for a receiving board that is away (flows contract, docs/
// ARCHITECTURE.md → Flows, "Wire relay buffer"). WAMP keeps no event for a subscriber that is not
// there: a board that was offline (or restarting) when its sender published would lose those
// messages. The router tells this buffer, for each wire topic, which boards receive it (their
// partitions list it inbound); a publication on it while a receiver holds no subscription to the
// topic is kept for that receiver, and handed back, in order, when it subscribes again. The
// receiver's WireOrder drops what it already has (seq <= last) and puts gaps in order.
//
// Bounded per (wire, receiver): at most max_messages and max_bytes; beyond, the oldest is dropped
// and counted (the newest state of a wire matters more than the oldest, as in a board's spool).
// Held in memory: lost when the conductor restarts.
//
// Threading: the router's strand, except Stats, which any thread may call.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/wamp/message.hpp"

namespace ew::router {

struct WireBufferOptions {
  size_t max_messages = 1000;      // per (wire, receiver)
  size_t max_bytes = 1u << 20;     // per (wire, receiver), JSON size of args + kwargs
};

// What the buffer holds and has dropped for one receiving board of a flow.
struct WireBufferStats {
  uint64_t buffered = 0;
  uint64_t dropped = 0;
};

class WireBuffer {
 public:
  explicit WireBuffer(WireBufferOptions options = {}) : options_(options) {}

  // Replaces the flow's wires: topic → boards that receive it. What was held for topics or boards
  // no longer listed is dropped (a new version restarts its wires anyway).
  void SetWires(const std::string& flow_id, const std::map<std::string, std::vector<std::string>>& receivers);
  void ClearFlow(const std::string& flow_id);
  bool Watches(const std::string& topic) const { return wires_.count(topic) > 0; }

  // A publication on `topic`: kept for every receiver for which `is_subscribed(board)` is false.
  void OnPublish(const std::string& topic, const wamp::Payload& payload,
                 const std::function<bool(const std::string& board)>& is_subscribed);
  // What is held for `board` on `topic`, oldest first; the buffer forgets it.
  std::vector<wamp::Payload> Take(const std::string& board, const std::string& topic);

  // Per receiving board of the flow. Thread-safe.
  std::map<std::string, WireBufferStats> Stats(const std::string& flow_id) const;

 private:
  struct Held {
    std::deque<std::pair<wamp::Payload, size_t>> messages;  // (payload, bytes)
    size_t bytes = 0;
  };
  struct Wire {
    std::string flow_id;
    std::map<std::string, Held> by_receiver;  // every receiver, holding or not
  };
  void Count(const std::string& flow_id, const std::string& board, int64_t buffered_delta, uint64_t dropped_delta);

  WireBufferOptions options_;
  std::map<std::string, Wire> wires_;  // by topic
  mutable std::mutex stats_mu_;
  std::map<std::string, std::map<std::string, WireBufferStats>> stats_;  // flow → board; GUARDED_BY(stats_mu_)
};

}  // namespace ew::router
