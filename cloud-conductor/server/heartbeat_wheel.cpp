#include "cloud-conductor/server/heartbeat_wheel.hpp"

#include <algorithm>

namespace ew::server {

HeartbeatWheel::HeartbeatWheel(Duration interval, Duration timeout, Duration tick, TimePoint now)
    : interval_(interval), timeout_(timeout), tick_(std::max(tick, Duration(1))), origin_(now) {
  // A member is never due further ahead than `timeout` (rounded up) from the tick being handled,
  // so this many buckets never wrap onto a member before it is due.
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

void HeartbeatWheel::Add(Member* member) {
  if (member->wheel_ == this) return;
  if (member->wheel_ != nullptr) member->wheel_->Remove(member);
  Place(member, TickOf(member->HeartbeatLastHeard() + interval_));
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
  while (done_tick_ < target) {
    ++done_tick_;  // first: members placed again from here go to later ticks
    auto& bucket = buckets_[static_cast<size_t>(done_tick_ % slots)];
    while (!bucket.empty()) {
      Member* m = bucket.back();
      bucket.pop_back();
      m->wheel_ = nullptr;
      --size_;
      ++visited_;
      const TimePoint last = m->HeartbeatLastHeard();
      const auto silent = now - last;
      if (silent >= timeout_) {
        ++expired_;
        m->HeartbeatExpired();
        continue;
      }
      if (silent >= interval_) {
        // Placed before the callback, so that the callback may Remove it.
        Place(m, TickOf(last + timeout_));
        ++pinged_;
        m->HeartbeatPing();
      } else {
        Place(m, TickOf(last + interval_));
      }
    }
  }
}

}  // namespace ew::server
