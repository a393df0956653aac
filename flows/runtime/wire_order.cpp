#include "flows/runtime/wire_order.hpp"

namespace ew::flows::runtime {

std::vector<Msg> WireOrder::Accept(const std::string& topic, const std::string& from, uint64_t version, uint64_t seq,
                                   Msg msg, TimePoint now) {
  std::vector<Msg> out;
  Stream& s = streams_[{topic, from}];
  if (s.started && version < s.version) {
    ++stale_;
    return out;
  }
  if (!s.started || version > s.version) {
    // First message seen from this publisher (or its new version): it starts the sequence.
    s = Stream{};
    s.started = true;
    s.version = version;
    s.last = seq - 1;
  }
  if (seq <= s.last || s.held.count(seq)) {
    ++duplicates_;
    return out;
  }
  if (seq == s.last + 1) {
    s.last = seq;
    out.push_back(std::move(msg));
    Drain(s, out);
    return out;
  }
  if (s.held.empty()) s.waiting_since = now;
  s.held.emplace(seq, std::move(msg));
  if (s.held.size() > options_.max_held || now - s.waiting_since > options_.gap_timeout) {
    SkipToFirstHeld(s);
    Drain(s, out);
    s.waiting_since = now;  // what is still held waits from now on for its own gap
  }
  return out;
}

std::vector<std::pair<std::string, Msg>> WireOrder::Expire(TimePoint now) {
  std::vector<std::pair<std::string, Msg>> out;
  for (auto& [key, s] : streams_) {
    if (s.held.empty() || now - s.waiting_since <= options_.gap_timeout) continue;
    SkipToFirstHeld(s);
    std::vector<Msg> ready;
    Drain(s, ready);
    s.waiting_since = now;
    for (auto& m : ready) out.emplace_back(key.first, std::move(m));
  }
  return out;
}

void WireOrder::SkipToFirstHeld(Stream& s) {
  uint64_t first = s.held.begin()->first;
  skipped_ += first - s.last - 1;
  s.last = first - 1;
}

void WireOrder::Drain(Stream& s, std::vector<Msg>& out) {
  while (!s.held.empty() && s.held.begin()->first == s.last + 1) {
    out.push_back(std::move(s.held.begin()->second));
    s.held.erase(s.held.begin());
    ++s.last;
  }
}

}  // namespace ew::flows::runtime
