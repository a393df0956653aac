#include "cloud-conductor/server/heartbeat_wheel.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "common/clock/clock.hpp"

namespace ew::server {
namespace {

using namespace std::chrono_literals;

// A peer: answers each ping at once (when `answers`), as a live board's WebSocket does.
struct Peer final : HeartbeatWheel::Member {
  Peer(ManualClock& clock, bool answers) : clock(clock), answers(answers), last(clock.Steady()) {}
  HeartbeatWheel::TimePoint HeartbeatLastHeard() const override { return last; }
  void HeartbeatPing() override {
    ++pings;
    if (answers) last = clock.Steady();
  }
  void HeartbeatExpired() override {
    expired = true;
    expired_at = clock.Steady();
  }
  ManualClock& clock;
  bool answers;
  HeartbeatWheel::TimePoint last;
  int pings = 0;
  bool expired = false;
  HeartbeatWheel::TimePoint expired_at{};
};

// Moves the clock in steps of `step` for `total`, advancing the wheel after each.
void RunFor(ManualClock& clock, HeartbeatWheel& wheel, std::chrono::milliseconds total, std::chrono::milliseconds step) {
  for (auto t = 0ms; t < total; t += step) {
    clock.Advance(step);
    wheel.Advance(clock.Steady());
  }
}

TEST(HeartbeatWheelTest, PingsAnAnsweringPeerAboutOncePerIntervalAndKeepsIt) {
  ManualClock clock;
  HeartbeatWheel wheel(2s, 4s, 500ms, clock.Steady());
  Peer peer(clock, /*answers=*/true);
  wheel.Add(&peer);
  RunFor(clock, wheel, 60s, 100ms);
  EXPECT_FALSE(peer.expired);
  // One ping per interval, at most a tick late: between 60/2.5 and 60/2.
  EXPECT_GE(peer.pings, 24);
  EXPECT_LE(peer.pings, 30);
  EXPECT_EQ(wheel.size(), 1u);
  // Looked at about once per ping, not once per tick (120 ticks).
  EXPECT_LE(wheel.visited(), 2u * 30);
  wheel.Remove(&peer);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(HeartbeatWheelTest, ExpiresASilentPeerWithinATickOfTheTimeout) {
  ManualClock clock;
  const auto start = clock.Steady();
  HeartbeatWheel wheel(2s, 4s, 500ms, start);
  Peer dead(clock, /*answers=*/false);
  wheel.Add(&dead);
  RunFor(clock, wheel, 10s, 50ms);
  ASSERT_TRUE(dead.expired);
  EXPECT_EQ(dead.pings, 1);  // pinged once at the interval, then left to time out
  EXPECT_GE(dead.expired_at - start, 4s);
  EXPECT_LE(dead.expired_at - start, 4500ms);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.expired(), 1u);
}

TEST(HeartbeatWheelTest, APeerThatKeepsTalkingIsNeverPinged) {
  ManualClock clock;
  HeartbeatWheel wheel(2s, 4s, 500ms, clock.Steady());
  Peer chatty(clock, true);
  wheel.Add(&chatty);
  for (int i = 0; i < 100; ++i) {
    clock.Advance(300ms);
    chatty.last = clock.Steady();  // a frame every 300 ms
    wheel.Advance(clock.Steady());
  }
  EXPECT_EQ(chatty.pings, 0);
  EXPECT_FALSE(chatty.expired);
}

TEST(HeartbeatWheelTest, RemovedPeersAreNeverCalledAndOthersStillAre) {
  ManualClock clock;
  HeartbeatWheel wheel(2s, 4s, 500ms, clock.Steady());
  std::vector<std::unique_ptr<Peer>> peers;
  for (int i = 0; i < 1000; ++i) {
    peers.push_back(std::make_unique<Peer>(clock, false));
    wheel.Add(peers.back().get());
    if (i % 7 == 0) clock.Advance(10ms);  // spread over several buckets
  }
  for (int i = 0; i < 1000; i += 2) wheel.Remove(peers[i].get());
  EXPECT_EQ(wheel.size(), 500u);
  RunFor(clock, wheel, 10s, 100ms);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(peers[i]->expired, i % 2 == 1) << i;
    EXPECT_EQ(peers[i]->pings, i % 2 == 1 ? 1 : 0) << i;
  }
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(HeartbeatWheelTest, AStallLongerThanTheWheelHandlesEveryoneOnce) {
  ManualClock clock;
  HeartbeatWheel wheel(2s, 4s, 500ms, clock.Steady());
  Peer a(clock, false), b(clock, true);
  wheel.Add(&a);
  wheel.Add(&b);
  clock.Advance(30s);  // the io thread was blocked
  wheel.Advance(clock.Steady());
  EXPECT_TRUE(a.expired);
  EXPECT_TRUE(b.expired);  // silent 30 s is silent, whoever would have answered
  EXPECT_EQ(wheel.size(), 0u);
}

// A callback may remove another member of the bucket being handled (a Drop that ends a sibling).
struct Remover final : HeartbeatWheel::Member {
  Remover(ManualClock& clock, HeartbeatWheel& wheel) : clock(clock), wheel(wheel), last(clock.Steady()) {}
  HeartbeatWheel::TimePoint HeartbeatLastHeard() const override { return last; }
  void HeartbeatPing() override {
    ++pings;
    if (victim) wheel.Remove(victim);
    victim = nullptr;
  }
  void HeartbeatExpired() override {}
  ManualClock& clock;
  HeartbeatWheel& wheel;
  HeartbeatWheel::TimePoint last;
  Member* victim = nullptr;
  int pings = 0;
};

TEST(HeartbeatWheelTest, ACallbackMayRemoveASiblingInTheSameBucket) {
  ManualClock clock;
  HeartbeatWheel wheel(2s, 4s, 500ms, clock.Steady());
  Peer sibling(clock, false);
  Remover remover(clock, wheel);
  wheel.Add(&sibling);  // same last-heard: same bucket; handled after the remover (back first)
  wheel.Add(&remover);
  remover.victim = &sibling;
  RunFor(clock, wheel, 2500ms, 100ms);
  EXPECT_EQ(remover.pings, 1);
  EXPECT_EQ(sibling.pings, 0);
  EXPECT_EQ(wheel.size(), 1u);
}

}  // namespace
}  // namespace ew::server
