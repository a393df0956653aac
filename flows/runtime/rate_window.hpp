// At most N events in each one-second window (fixed windows, the first event opens one): what a
// flow host lets through of a partition's debug output, so a chatty debug node cannot flood the
// conductor. Not thread-safe; the caller's clock.
#pragma once

#include <chrono>

namespace ew::flows::runtime {

class RateWindow {
 public:
  // Whether one more event at `now` fits `per_second`.
  bool Admit(std::chrono::steady_clock::time_point now, int per_second) {
    if (now - window_ >= std::chrono::seconds(1)) {
      window_ = now;
      in_window_ = 0;
    }
    return ++in_window_ <= per_second;
  }

 private:
  std::chrono::steady_clock::time_point window_{};
  int in_window_ = 0;
};

}  // namespace ew::flows::runtime
