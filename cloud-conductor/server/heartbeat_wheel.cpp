#include "cloud-conductor/server/heartbeat_wheel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ew::server {

HeartbeatWheel::HeartbeatWheel(Duration interval, Duration timeout, Duration tick, TimePoint now,
                               uint32_t max_pings_per_second)
    : interval_(interval),
      timeout_(timeout),
      max_pings_per_second_(max_pings_per_second),
      stretched_interval_(interval),
      stretched_timeout_(timeout),
      tick_(std::max(tick, Duration(1))),
      origin_(now),
      last_advance_(now) {
  // A member is never due further ahead than `timeout` (rounded up) from the tick being handled,
  // so this many buckets never wrap onto a member before it is due. Under a stretch it may be:
  // Place puts it in the last bucket, and it is placed again from there.
  const auto slots = static_cast<size_t>((timeout_ + tick_ - Duration(1)) / tick_) + 2;
  buckets_.resize(slots);
}

HeartbeatWheel::~HeartbeatWheel() {
  for (auto& bucket : buckets_)
    for (Member* m : bucket) m->wheel_ = nullptr;
}

int64_t HeartbeatWheel::TickOf(TimePoint t) const {
  const auto since = t - origin_;
  if (since <= Duration::zero()) return 0;
  return static_cast<int64_t>((since + tick_ - Duration(1)) / tick_);
}

void HeartbeatWheel::Place(Member* member, int64_t due_tick) {
  const auto slots = static_cast<int64_t>(buckets_.size());
  due_tick = std::clamp(due_tick, done_tick_ + 1, done_tick_ + slots - 1);
  auto& bucket = buckets_[static_cast<size_t>(due_tick % slots)];
  member->wheel_ = this;
  member->slot_ = static_cast<size_t>(due_tick % slots);
  member->pos_ = bucket.size();
  bucket.push_back(member);
  ++size_;
}

void HeartbeatWheel::Unlink(Member* member) {
  auto& bucket = buckets_[member->slot_];
  Member* last = bucket.back();
  bucket[member->pos_] = last;
  last->pos_ = member->pos_;
  bucket.pop_back();
  member->wheel_ = nullptr;
  --size_;
}

void HeartbeatWheel::Stretch() {
  stretched_interval_ = interval_;
  stretched_timeout_ = timeout_;
  if (max_pings_per_second_ == 0) return;
  // size_ ≤ a few million and a second in the clock's ticks (ns) keep this within int64.
  const Duration spread = std::chrono::duration_cast<Duration>(std::chrono::seconds(1)) *
                          static_cast<int64_t>(size_) / static_cast<int64_t>(max_pings_per_second_);
  if (spread <= interval_) return;
  stretched_interval_ = spread;
  const double factor = static_cast<double>(spread.count()) / static_cast<double>(interval_.count());
  stretched_timeout_ = Duration(static_cast<Duration::rep>(static_cast<double>(timeout_.count()) * factor));
}

void HeartbeatWheel::Add(Member* member) {
  if (member->wheel_ == this) return;
  if (member->wheel_ != nullptr) member->wheel_->Remove(member);
  Place(member, TickOf(member->HeartbeatLastHeard() + stretched_interval_));
  Stretch();
}

void HeartbeatWheel::Remove(Member* member) {
  if (member->wheel_ != this) return;
  Unlink(member);
}

void HeartbeatWheel::Advance(TimePoint now) {
  const auto since = now - origin_;
  if (since < Duration::zero()) return;
  const auto target = static_cast<int64_t>(since / tick_);  // ticks whose moment has come
  const auto slots = static_cast<int64_t>(buckets_.size());
  // After a stall longer than the wheel, each bucket is handled once (the last `slots` ticks).
  if (target - done_tick_ > slots) done_tick_ = target - slots;
  Stretch();
  const Duration interval = stretched_interval_, timeout = stretched_timeout_;
  const Duration grace = (timeout - interval) / 2;  // for an answer to a ping
  // Also true on the first Advance after the wheel was empty (its timer not armed): harmless, as
  // no member can have waited out its timeout since it joined a tick ago.
  const bool stalled = now - last_advance_ > 2 * tick_;
  last_advance_ = now;
  // The ceiling holds per tick too: a member due for a ping past ceiling × tick waits for the
  // next tick, unpinged (so not expired either), and a bunch (a herd of joins, a stall) spreads.
  const uint64_t per_tick =
      max_pings_per_second_ == 0
          ? UINT64_MAX
          : std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(
                                      max_pings_per_second_ * std::chrono::duration<double>(tick_).count())));
  while (done_tick_ < target) {
    ++done_tick_;  // first: members placed again from here go to later ticks
    uint64_t budget = per_tick;
    auto& bucket = buckets_[static_cast<size_t>(done_tick_ % slots)];
    while (!bucket.empty()) {
      Member* m = bucket.back();
      bucket.pop_back();
      m->wheel_ = nullptr;
      --size_;
      ++visited_;
      const TimePoint last = m->HeartbeatLastHeard();
      const auto silent = now - last;
      bool pinged = m->pinged_for_ == last;  // in this silence
      if (silent >= timeout && pinged && now - m->pinged_at_ >= grace) {
        if (!stalled || m->spared_) {
          ++expired_;
          m->HeartbeatExpired();
          continue;
        }
        m->spared_ = true;  // its answer may be unread behind the stall: one more ping
        pinged = false;
      }
      if (silent >= interval && !pinged && budget == 0) {
        Place(m, done_tick_ + 1);  // over this tick's share of the ceiling
        continue;
      }
      if (silent >= interval) {
        // Placed before the callback, so that the callback may Remove it. A stretched timeout
        // past the wheel's span brings the member back before it: one ping per silence.
        const TimePoint pinged_at = pinged ? m->pinged_at_ : now;
        Place(m, TickOf(std::max(last + timeout, pinged_at + grace)));
        if (!pinged) {
          if (m->pinged_for_ != last) m->spared_ = false;  // a new silence
          m->pinged_for_ = last;
          m->pinged_at_ = now;
          --budget;
          ++pinged_;
          m->HeartbeatPing();
        }
      } else {
        Place(m, TickOf(last + interval));
      }
    }
  }
}

}  // namespace ew::server
