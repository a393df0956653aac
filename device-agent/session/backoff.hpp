// Reconnect delays: capped exponential backoff with full jitter ("Exponential Backoff And
// Jitter", AWS architecture blog): attempt n waits uniform(0, min(cap, initial * 2^n)), so a
// fleet of boards that lost the conductor together does not come back in lock-step.
#pragma once

#include <chrono>
#include <functional>

namespace ew::agent::session {

class Backoff {
 public:
  // Returns a value in [0, 1). Tests inject a fixed sequence.
  using RandomSource = std::function<double()>;

  // `initial` > 0 and `cap` >= `initial`; out-of-range values are clamped.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap, RandomSource random = DefaultRandom());

  // Delay before the next attempt; grows the window for the one after.
  std::chrono::milliseconds Next();
  // Back to the initial window (after a session that stayed up long enough).
  void Reset() { attempt_ = 0; }

  int attempt() const { return attempt_; }
  // Upper bound of the window the next call to Next() draws from.
  std::chrono::milliseconds Window() const;

  // A std::mt19937_64 seeded from std::random_device.
  static RandomSource DefaultRandom();

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds cap_;
  RandomSource random_;
  int attempt_ = 0;
};

}  // namespace ew::agent::session
