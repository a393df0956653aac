#include "device-agent/session/backoff.hpp"

#include <algorithm>
#include <memory>
#include <random>

namespace ew::agent::session {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap, RandomSource random)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      cap_(std::max(cap, initial_)),
      random_(std::move(random)) {}

std::chrono::milliseconds Backoff::Window() const {
  // Doubling stops once past the cap, so no overflow however long the conductor stays away.
  auto window = initial_;
  for (int i = 0; i < attempt_ && window < cap_; ++i) window *= 2;
  return std::min(window, cap_);
}

std::chrono::milliseconds Backoff::Next() {
  auto window = Window();
  double r = std::clamp(random_(), 0.0, 1.0);
  ++attempt_;
  auto delay = std::chrono::milliseconds(static_cast<int64_t>(r * static_cast<double>(window.count())));
  return std::min(delay, window);
}

Backoff::RandomSource Backoff::DefaultRandom() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine]() { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

}  // namespace ew::agent::session
