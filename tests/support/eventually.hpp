// Waiting in tests for what another thread does: polls `done` every millisecond until it holds or
// `timeout` passes; the answer is `done`'s last. For assertions, not for pacing.
#pragma once

#include <chrono>
#include <thread>

namespace ew::test {

template <typename Done>
bool Eventually(Done done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

}  // namespace ew::test
