// Receiving side of cross wires (flows contract): messages on `ew.flow.<flow>.wire.<node>.<port>`
// carry {seq, from, version}. Per (topic, from) they are delivered in seq order and duplicates
// (seq <= last delivered) dropped: a publisher that replays its spool after a reconnect may send
// some twice. A newer publisher version restarts the sequence; an older one is stale and dropped.
// A gap (a message the publisher dropped from a full spool) is waited out for `gap_timeout` or
// `max_held` later messages, then skipped and counted. Not thread-safe (one strand).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "flows/runtime/message.hpp"

namespace ew::flows::runtime {

struct WireOrderOptions {
  size_t max_held = 1000;                          // out-of-order messages held per stream
  std::chrono::milliseconds gap_timeout{2000};     // how long a gap may hold later messages back
};

class WireOrder {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  explicit WireOrder(WireOrderOptions options = {}) : options_(options) {}

  // The messages that are now deliverable, in order (possibly none, possibly several).
  std::vector<Msg> Accept(const std::string& topic, const std::string& from, uint64_t version, uint64_t seq, Msg msg,
                          TimePoint now);
  // Releases held messages whose gap has waited longer than gap_timeout. Returns (topic, msg).
  std::vector<std::pair<std::string, Msg>> Expire(TimePoint now);

  uint64_t duplicates() const { return duplicates_; }
  uint64_t skipped() const { return skipped_; }  // sequence numbers given up on
  uint64_t stale() const { return stale_; }

 private:
  struct Stream {
    uint64_t version = 0;
    uint64_t last = 0;
    bool started = false;
    std::map<uint64_t, Msg> held;
    TimePoint waiting_since{};
  };
  void Drain(Stream& s, std::vector<Msg>& out);
  void SkipToFirstHeld(Stream& s);

  WireOrderOptions options_;
  std::map<std::pair<std::string, std::string>, Stream> streams_;
  uint64_t duplicates_ = 0, skipped_ = 0, stale_ = 0;
};

}  // namespace ew::flows::runtime
