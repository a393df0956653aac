#include "cloud-conductor/router/wire_buffer.hpp"

namespace ew::router {

void WireBuffer::SetWires(const std::string& flow_id, const std::map<std::string, std::vector<std::string>>& receivers) {
  ClearFlow(flow_id);
  std::lock_guard lock(stats_mu_);
  for (const auto& [topic, boards] : receivers) {
    Wire& wire = wires_[topic];
    wire.flow_id = flow_id;
    for (const auto& board : boards) {
      wire.by_receiver[board];
      stats_[flow_id][board];
    }
  }
}

void WireBuffer::ClearFlow(const std::string& flow_id) {
  for (auto it = wires_.begin(); it != wires_.end();) {
    if (it->second.flow_id == flow_id) it = wires_.erase(it);
    else ++it;
  }
  std::lock_guard lock(stats_mu_);
  stats_.erase(flow_id);
}

void WireBuffer::OnPublish(const std::string& topic, const wamp::Payload& payload,
                           const std::function<bool(const std::string& board)>& is_subscribed) {
  auto it = wires_.find(topic);
  if (it == wires_.end()) return;
  Wire& wire = it->second;
  size_t bytes = 0;  // measured once, and only when someone is away
  for (auto& [board, held] : wire.by_receiver) {
    if (is_subscribed(board)) continue;
    if (bytes == 0) bytes = payload.args.dump().size() + payload.kwargs.dump().size();
    held.messages.emplace_back(payload, bytes);
    held.bytes += bytes;
    uint64_t dropped = 0;
    while (held.messages.size() > options_.max_messages || (held.bytes > options_.max_bytes && held.messages.size() > 1)) {
      held.bytes -= held.messages.front().second;
      held.messages.pop_front();
      ++dropped;
    }
    Count(wire.flow_id, board, 1 - static_cast<int64_t>(dropped), dropped);
  }
}

std::vector<wamp::Payload> WireBuffer::Take(const std::string& board, const std::string& topic) {
  std::vector<wamp::Payload> out;
  auto it = wires_.find(topic);
  if (it == wires_.end()) return out;
  auto held = it->second.by_receiver.find(board);
  if (held == it->second.by_receiver.end()) return out;
  for (auto& [payload, bytes] : held->second.messages) out.push_back(std::move(payload));
  held->second.messages.clear();
  held->second.bytes = 0;
  Count(it->second.flow_id, board, -static_cast<int64_t>(out.size()), 0);
  return out;
}

void WireBuffer::Count(const std::string& flow_id, const std::string& board, int64_t buffered_delta,
                         uint64_t dropped_delta) {
  std::lock_guard lock(stats_mu_);
  auto& s = stats_[flow_id][board];
  s.buffered = static_cast<uint64_t>(static_cast<int64_t>(s.buffered) + buffered_delta);
  s.dropped += dropped_delta;
}

std::map<std::string, WireBufferStats> WireBuffer::Stats(const std::string& flow_id) const {
  std::lock_guard lock(stats_mu_);
  auto it = stats_.find(flow_id);
  return it == stats_.end() ? std::map<std::string, WireBufferStats>() : it->second;
}

}  // namespace ew::router
