// The threads that run password hashing (PBKDF2, ~100 ms of CPU per login), apart from the
// blocking pool: token checks and board WAMP-CRA logins never queue behind a login flood, and
// the queue of waiting hash jobs is bounded, so a flood costs a bounded amount of memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>

#include <boost/asio/thread_pool.hpp>

namespace ew::auth {

struct HashPoolOptions {
  size_t threads = 1;      // PBKDF2 runs on these only; 1 leaves the other core to everything else
  size_t max_queued = 64;  // jobs waiting or running; past this TryPost refuses (the caller answers 503)
};

class HashPool {
 public:
  explicit HashPool(HashPoolOptions options = {});
  // Waits for queued jobs (Join).
  ~HashPool();
  HashPool(const HashPool&) = delete;
  HashPool& operator=(const HashPool&) = delete;

  // Runs `job` on one of the pool's threads, or returns false (and drops `job`) when
  // max_queued jobs are already waiting or running. Thread-safe.
  bool TryPost(std::function<void()> job);
  // Jobs waiting or running.
  size_t Pending() const { return pending_.load(); }
  // Waits until every posted job has run; TryPost must not be called after. Idempotent.
  void Join();

 private:
  HashPoolOptions options_;
  boost::asio::thread_pool pool_;
  std::atomic<size_t> pending_{0};
};

}  // namespace ew::auth
