#include "flows/runtime/timers.hpp"

#include <boost/asio/bind_executor.hpp>

namespace ew::flows::runtime {

Timers::Timers(const Clock& clock, Strand strand) : clock_(clock), strand_(strand), wake_(strand) {}

Timers::~Timers() {
  *alive_ = false;
  wake_.cancel();
}

Timers::Id Timers::After(std::chrono::nanoseconds delay, std::function<void()> fn) {
  if (delay.count() < 0) delay = std::chrono::nanoseconds(0);
  Id id = next_id_++;
  auto it = queue_.emplace(clock_.Steady() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay),
                           std::make_pair(id, std::move(fn)));
  by_id_[id] = it;
  Arm();
  return id;
}

void Timers::Cancel(Id id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  queue_.erase(it->second);
  by_id_.erase(it);
}

void Timers::CancelAll() {
  queue_.clear();
  by_id_.clear();
  wake_.cancel();
  armed_for_.reset();
}

size_t Timers::RunDue() {
  size_t fired = 0;
  while (!queue_.empty()) {
    auto it = queue_.begin();
    if (it->first > clock_.Steady()) break;
    auto fn = std::move(it->second.second);
    by_id_.erase(it->second.first);
    queue_.erase(it);
    ++fired;
    fn();
  }
  Arm();
  return fired;
}

// One asio timer for the earliest deadline, in real time. With a ManualClock it may wake before
// the clock says the deadline has come; RunDue then fires nothing and re-arms.
void Timers::Arm() {
  if (queue_.empty()) return;
  Deadline first = queue_.begin()->first;
  if (armed_for_ && *armed_for_ <= first) return;
  armed_for_ = first;
  wake_.expires_after(first - clock_.Steady());
  wake_.async_wait(boost::asio::bind_executor(strand_, [this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    armed_for_.reset();
    RunDue();
  }));
}

}  // namespace ew::flows::runtime
