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

// `n` peers that answer every ping, each added to `wheel`.
std::vector<std::unique_ptr<Peer>> AddAnswering(ManualClock& clock, HeartbeatWheel& wheel, int n) {
  std::vector<std::unique_ptr<Peer>> peers;
  for (int i = 0; i < n; ++i) {
    peers.push_back(std::make_unique<Peer>(clock, /*answers=*/true));
    wheel.Add(peers.back().get());
  }
  return peers;
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

TEST(HeartbeatWheelTest, AStallLongerThanTheWheelPingsEveryoneOnceBeforeExpiring) {
  ManualClock clock;
  HeartbeatWheel wheel(2s, 4s, 500ms, clock.Steady());
  Peer a(clock, false), b(clock, true);
  wheel.Add(&a);
  wheel.Add(&b);
  clock.Advance(30s);  // the io thread was blocked: nobody's frames were read
  wheel.Advance(clock.Steady());
  // Both pinged once and given the grace (1 s) to answer, rather than the whole fleet dropped
  // for the conductor's own stall: b answers, a does not and goes one grace later.
  EXPECT_EQ(a.pings, 1);
  EXPECT_EQ(b.pings, 1);
  EXPECT_FALSE(a.expired);
  EXPECT_FALSE(b.expired);
  EXPECT_EQ(wheel.size(), 2u);
  RunFor(clock, wheel, 1500ms, 50ms);
  EXPECT_TRUE(a.expired);
  EXPECT_FALSE(b.expired);
  EXPECT_EQ(wheel.size(), 1u);
  wheel.Remove(&b);
}

// A peer pinged just before a stall: its pong may sit unread behind the stall, so the first
// Advance after it pings it once more instead of expiring it; a peer that still does not answer
// goes one grace later.
TEST(HeartbeatWheelTest, APingInFlightWhenTheWheelStallsGetsOneMoreChance) {
  ManualClock clock;
  HeartbeatWheel wheel(2s, 4s, 500ms, clock.Steady());
  Peer late(clock, false), dead(clock, false);
  wheel.Add(&late);
  wheel.Add(&dead);
  RunFor(clock, wheel, 2100ms, 50ms);  // both pinged at 2 s, neither has answered yet
  ASSERT_EQ(late.pings, 1);
  ASSERT_EQ(dead.pings, 1);
  clock.Advance(10s);  // the io thread was blocked
  wheel.Advance(clock.Steady());
  EXPECT_FALSE(late.expired);
  EXPECT_FALSE(dead.expired);
  EXPECT_EQ(late.pings, 2);
  EXPECT_EQ(dead.pings, 2);
  late.last = clock.Steady();  // its answer, read after the stall
  RunFor(clock, wheel, 1500ms, 50ms);
  EXPECT_FALSE(late.expired);
  EXPECT_TRUE(dead.expired);
  // Under a steady wheel (no stall) a dead peer still goes at timeout + a tick at most.
  Peer dead2(clock, false);
  const auto added = clock.Steady();
  wheel.Add(&dead2);
  RunFor(clock, wheel, 6s, 50ms);
  ASSERT_TRUE(dead2.expired);
  EXPECT_LE(dead2.expired_at - added, 4500ms);
  wheel.Remove(&late);
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

// The ping ceiling: 100 peers, 1 s / 2 s, at most 10 pings a second → each pinged after 10 s of
// silence and dropped after 20 s.
TEST(HeartbeatWheelTest, UnderThePingCeilingTheSilencesStretchWithTheMembers) {
  ManualClock clock;
  const auto start = clock.Steady();
  HeartbeatWheel wheel(1s, 2s, 250ms, start, /*max_pings_per_second=*/10);
  EXPECT_EQ(wheel.interval(), 1s);
  EXPECT_EQ(wheel.timeout(), 2s);
  auto peers = AddAnswering(clock, wheel, 99);
  Peer dead(clock, /*answers=*/false);
  wheel.Add(&dead);
  EXPECT_EQ(wheel.interval(), 10s);
  EXPECT_EQ(wheel.timeout(), 20s);
  RunFor(clock, wheel, 60s, 50ms);
  int pings = 0;
  for (const auto& p : peers) {
    EXPECT_FALSE(p->expired);
    pings += p->pings;
  }
  // ~10 a second over 60 s (each peer every 10 s and at most a tick), not the ~4,800 that 1 s
  // intervals would give.
  EXPECT_GE(pings, 99 * 5);
  EXPECT_LE(pings, 99 * 6);
  // The dead peer: pinged once, after 10 s, and dropped after 20 s (a tick late at most), though
  // its stretched timeout reaches past the wheel's 10 buckets.
  ASSERT_TRUE(dead.expired);
  EXPECT_EQ(dead.pings, 1);
  EXPECT_GE(dead.expired_at - start, 20s);
  EXPECT_LE(dead.expired_at - start, 20250ms);
  // Back under the ceiling: the configured silences again, from the next Advance. The peers left
  // have been silent for up to 10 s, longer than the new 2 s timeout, as the old terms allowed:
  // each gets a ping and its grace before anything is expired.
  for (size_t i = 0; i < 95; ++i) wheel.Remove(peers[i].get());
  clock.Advance(250ms);
  wheel.Advance(clock.Steady());
  EXPECT_EQ(wheel.interval(), 1s);
  EXPECT_EQ(wheel.timeout(), 2s);
  const int before = peers[98]->pings;
  RunFor(clock, wheel, 20s, 50ms);
  EXPECT_GE(peers[98]->pings - before, 14);  // every ~1.25 s again
  for (size_t i = 95; i < 99; ++i) EXPECT_FALSE(peers[i]->expired) << i;
  EXPECT_EQ(wheel.size(), 4u);
  for (size_t i = 95; i < 99; ++i) wheel.Remove(peers[i].get());
}

// 1,000 boards joined at once (a herd after a restart) all come due in the same tick; the ceiling
// (100 a second, 25 a tick) spreads their pings instead of sending 1,000 in one Advance.
TEST(HeartbeatWheelTest, TheCeilingHoldsPerTick) {
  ManualClock clock;
  HeartbeatWheel wheel(1s, 2s, 250ms, clock.Steady(), /*max_pings_per_second=*/100);
  auto peers = AddAnswering(clock, wheel, 1000);
  ASSERT_EQ(wheel.interval(), 10s);
  uint64_t most = 0;
  for (int step = 0; step < 600; ++step) {  // 30 s
    const uint64_t before = wheel.pinged();
    clock.Advance(50ms);
    wheel.Advance(clock.Steady());
    most = std::max(most, wheel.pinged() - before);
  }
  EXPECT_LE(most, 25u);
  EXPECT_GE(wheel.pinged(), 2000u);  // everyone pinged about every 10 s from the first wait's end
  EXPECT_LE(wheel.pinged(), 3000u);
  EXPECT_EQ(wheel.expired(), 0u);
  for (auto& p : peers) EXPECT_FALSE(p->expired);
  for (auto& p : peers) wheel.Remove(p.get());
}

TEST(HeartbeatWheelTest, NoCeilingNoStretch) {
  ManualClock clock;
  HeartbeatWheel wheel(1s, 2s, 250ms, clock.Steady(), /*max_pings_per_second=*/0);
  auto peers = AddAnswering(clock, wheel, 1000);
  EXPECT_EQ(wheel.interval(), 1s);
  EXPECT_EQ(wheel.timeout(), 2s);
  for (auto& p : peers) wheel.Remove(p.get());
}

// A peer that never answers is pinged once per silence, though a stretched timeout (40 s here)
// past the wheel's span (2.5 s) brings it back to be looked at many times before it expires.
TEST(HeartbeatWheelTest, ASilentPeerIsPingedOncePerSilence) {
  ManualClock clock;
  HeartbeatWheel wheel(1s, 2s, 250ms, clock.Steady(), /*max_pings_per_second=*/1);
  auto peers = AddAnswering(clock, wheel, 19);
  Peer mute(clock, /*answers=*/false);
  wheel.Add(&mute);
  ASSERT_EQ(wheel.timeout(), 40s);
  RunFor(clock, wheel, 30s, 50ms);
  EXPECT_EQ(mute.pings, 1);
  mute.last = clock.Steady();  // it speaks once, then falls silent again
  RunFor(clock, wheel, 30s, 50ms);
  EXPECT_EQ(mute.pings, 2);
  EXPECT_FALSE(mute.expired);
  wheel.Remove(&mute);
  for (auto& p : peers) wheel.Remove(p.get());
}

}  // namespace
}  // namespace ew::server
