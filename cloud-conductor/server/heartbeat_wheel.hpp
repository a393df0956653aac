// The WebSocket heartbeat of every connection on the conductor's port, driven by one timer: a
// timing wheel of buckets one tick wide (issue 15, "Many boards"). A connection silent for
// `interval` is pinged; one silent for `timeout` that left the ping unanswered is expired
// (dropped). Internal to
// cloud-conductor/server; no Asio in here, so it is tested with a ManualClock's time points.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ew::server {

// Why a wheel: a steady_timer per connection, woken every timeout/8 to look at its peer, was
// 200,000 wake-ups a second for 100,000 idle boards at the shipped 4 s timeout. Here a connection
// is looked at only when it is due (about once per interval while it answers pings), and one
// timer per server ticks every `tick`.
//
// Contract: single-threaded (the io thread); every Member is Removed (or expired) before it is
// destroyed; a Member is in at most one wheel. Lateness: a silent peer is pinged at most one tick
// after `interval` of silence and expired at most one tick after `timeout` (tick = timeout / 8 by
// default: 4.5 s with the shipped 4 s timeout, as before the wheel). A peer is expired only once
// it has been pinged in its silence and left the ping unanswered for half of timeout − interval
// (1 s shipped): when the terms shrink (boards leave a stretched wheel), a peer silent for longer
// than the new timeout, as the old terms allowed, gets a ping and that grace first. After a stall
// (Advance called more than two ticks after the last one: the io thread was blocked, and answers
// may sit unread in the sockets) a peer whose grace ran out is pinged once more instead of
// expired. The ceiling also holds per tick: past ceiling × tick pings in one tick, the members
// due wait for the next tick (pings otherwise bunch after a herd of joins); an Advance that
// handles many ticks at once (after a stall) still sends all their shares at once.
//
// A ceiling on pings (max_pings_per_second, 0 = none): with more members than interval × the
// ceiling, every member is pinged after members ÷ ceiling of silence instead, and expired after
// the timeout stretched in the same proportion, so that an idle conductor's heartbeat costs about
// the same however many boards it holds; the detection of a dead board slows instead (40 s at
// 100,000 boards and the shipped 2 s / 4 s / 5,000 a second). The stretch follows the number of
// members at each Add and at the start of each Advance. interval() and timeout() say what it is:
// the conductor tells its boards (WELCOME and every ping), so that they time their own checks by
// it (docs/ARCHITECTURE.md, WAMP, "Heartbeat").
class HeartbeatWheel {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  class Member {
   public:
    virtual ~Member() = default;
    // The last moment anything (a frame, a pong) came from the peer.
    virtual TimePoint HeartbeatLastHeard() const = 0;
    // Silent for `interval` or more: ping it (no more than one ping in flight is the member's business).
    virtual void HeartbeatPing() = 0;
    // Silent for `timeout`: already out of the wheel; drop the connection.
    virtual void HeartbeatExpired() = 0;
    // The server is stopping: end the connection now, telling whoever it feeds (the io_context
    // may not run again, so nothing may wait for a completion).
    virtual void ServerStopping() {}

   private:
    friend class HeartbeatWheel;
    HeartbeatWheel* wheel_ = nullptr;  // null: in no wheel
    size_t slot_ = 0;                  // bucket index
    size_t pos_ = 0;                   // index in the bucket
    TimePoint pinged_for_ = TimePoint::min();  // its last heard when last pinged: one ping per silence
    TimePoint pinged_at_{};                    // when
    bool spared_ = false;  // this silence's ping was sent again after a stall of the wheel (once)
  };

  // interval < timeout; tick > 0 (it bounds how late a ping or an expiry comes).
  HeartbeatWheel(Duration interval, Duration timeout, Duration tick, TimePoint now, uint32_t max_pings_per_second = 0);
  ~HeartbeatWheel();
  HeartbeatWheel(const HeartbeatWheel&) = delete;
  HeartbeatWheel& operator=(const HeartbeatWheel&) = delete;

  // Starts watching `member` (now: its last heard). Adding a member already in this wheel is a no-op.
  void Add(Member* member);
  // Stops watching it; harmless if it is in no wheel.
  void Remove(Member* member);
  // Handles every bucket due by `now`: pings and expiries run from in here, each member's
  // callback at most once per call. Callbacks may Add or Remove any member.
  void Advance(TimePoint now);

  size_t size() const { return size_; }
  Duration tick() const { return tick_; }
  // The silences that get a member pinged and expired now: the configured ones, or longer under
  // the ceiling (see the class comment).
  Duration interval() const { return stretched_interval_; }
  Duration timeout() const { return stretched_timeout_; }
  // Members looked at, pinged, expired since construction (for tests and metrics).
  uint64_t visited() const { return visited_; }
  uint64_t pinged() const { return pinged_; }
  uint64_t expired() const { return expired_; }

 private:
  int64_t TickOf(TimePoint t) const;  // the tick a time falls in, rounded up
  void Place(Member* member, int64_t due_tick);
  void Unlink(Member* member);
  // Sets the stretched interval and timeout for size_ members.
  void Stretch();

  Duration interval_;
  Duration timeout_;
  uint32_t max_pings_per_second_;
  Duration stretched_interval_;
  Duration stretched_timeout_;
  Duration tick_;
  TimePoint origin_;
  TimePoint last_advance_;  // to tell a stall
  int64_t done_tick_ = 0;  // every bucket up to this tick has been handled
  std::vector<std::vector<Member*>> buckets_;
  size_t size_ = 0;
  uint64_t visited_ = 0;
  uint64_t pinged_ = 0;
  uint64_t expired_ = 0;
};

}  // namespace ew::server
