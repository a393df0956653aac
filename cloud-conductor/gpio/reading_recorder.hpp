// Writes GPIO readings to the GpioStore off the router's strand: Record() queues and returns;
// a drain task on the blocking pool stores what has queued in one transaction per batch (group
// commit: the busier the boards, the larger the batches). Also prunes readings older than the
// retention, at start and then periodically.
//
// Thread-safe. The queue is bounded: when the store falls behind by max_queue readings, the
// oldest queued ones are dropped and counted (ew_gpio_readings_dropped_total{reason="queue_full"}).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "cloud-conductor/gpio/gpio_store.hpp"
#include "common/clock/clock.hpp"
#include "common/metrics/metrics.hpp"

namespace ew::conductor::gpio {

struct RecorderOptions {
  // Readings waiting for the store. 100k readings (~20 MB) ride out a store stalled for over a
  // minute at 1,000 edges/s; past that the oldest go.
  size_t max_queue = 100'000;
  // Readings per transaction: bounds how long one commit holds SQLite's write lock.
  size_t max_batch = 5'000;
  // Readings older than this are deleted ([gpio] history_days).
  std::chrono::hours retention{30 * 24};
  // How often the retention is enforced.
  std::chrono::milliseconds prune_interval{std::chrono::hours(1)};
  // Rows deleted per prune transaction.
  int64_t prune_chunk = 10'000;
};

class ReadingRecorder {
 public:
  // `store`, `blocking`, `clock` and `metrics` outlive the recorder. `timers` runs the prune
  // timer (the conductor's io executor).
  ReadingRecorder(GpioStore& store, boost::asio::thread_pool& blocking, boost::asio::any_io_executor timers,
                  const Clock& clock, metrics::Registry& metrics, RecorderOptions options);
  // Stores what is still queued, on the calling thread. Destroy after `blocking` is joined (or
  // when no drain task can be running) and after the timers' executor stopped.
  ~ReadingRecorder();
  ReadingRecorder(const ReadingRecorder&) = delete;
  ReadingRecorder& operator=(const ReadingRecorder&) = delete;

  // Prunes now (on the pool) and every prune_interval after.
  void Start();

  // Queues `reading` for the store; never blocks on it. A reading that breaks CheckReading is
  // dropped here (counted with reason="invalid"), so that it cannot fail a batch.
  void Record(Reading reading);

  // Stores, on the calling thread, everything queued before the call (waiting for a batch in
  // flight). Blocking: tests and shutdown.
  void Flush();

  // Deletes readings received before now - retention; blocking. Returns how many went.
  Result<int64_t> PruneNow();

  size_t queued() const;

 private:
  // Takes a batch off the queue and stores it; false when the queue was empty. Holds write_mu_.
  bool WriteBatch();
  void Drain();
  void SchedulePrune();

  GpioStore& store_;
  boost::asio::thread_pool& blocking_;
  const Clock& clock_;
  RecorderOptions options_;
  boost::asio::steady_timer prune_timer_;

  mutable std::mutex mu_;
  std::deque<Reading> queue_;       // GUARDED_BY(mu_)
  bool drain_scheduled_ = false;    // GUARDED_BY(mu_)
  std::mutex write_mu_;             // one batch at a time, in queue order

  metrics::Counter& stored_total_;
  metrics::Counter& dropped_full_total_;
  metrics::Counter& dropped_invalid_total_;
  metrics::Counter& dropped_error_total_;
  metrics::Counter& pruned_total_;
  metrics::Gauge& queued_gauge_;
  metrics::Histogram& batch_seconds_;

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::conductor::gpio
