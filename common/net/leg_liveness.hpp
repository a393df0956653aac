// Whether the WebSocket leg of a tunnel is still alive, decided once per ping interval
// (docs/ARCHITECTURE.md "Tunnels"). An idle tunnel carries nothing, so a peer that vanished (a
// frozen agent, a cut network, a NAT that forgot the flow) would go unnoticed until the
// kernel's TCP keepalive, hours later: each side pings its WebSocket instead, and a leg from
// which nothing (no message, no pong) was heard for a whole interval after a ping is dead.
//
// A leg that we do not read (our TCP side is slow: back-pressure) or that our own write is
// stuck on (the peer's side is slow) cannot answer in time through no fault of its own; such
// an interval neither pings nor judges. Pure logic, no timers: the splice calls Tick() from its
// timer and Heard() from its reads. Not thread-safe (the splice's executor).
#pragma once

namespace ew::net {

class LegLiveness {
 public:
  enum class Action {
    kNothing,  // heard from the peer (or could not have): all well
    kPing,     // nothing heard this interval: send a ping
    kDead,     // nothing heard for an interval after a ping: close the tunnel
  };

  // A message or a control frame (pong, ping) arrived from the peer.
  void Heard() { heard_ = true; }

  // Once per interval. `can_hear`: a read of the WebSocket is in flight and no write of ours is
  // waiting for the peer, so its answer would have been seen.
  Action Tick(bool can_hear) {
    const bool heard = heard_;
    heard_ = false;
    if (heard || !can_hear) {
      ping_out_ = false;
      return Action::kNothing;
    }
    if (ping_out_) return Action::kDead;
    ping_out_ = true;
    return Action::kPing;
  }

 private:
  bool heard_ = false;
  bool ping_out_ = false;  // a ping went out at the last tick and nothing was heard since
};

}  // namespace ew::net
