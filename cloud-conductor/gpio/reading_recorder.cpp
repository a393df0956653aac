#include "cloud-conductor/gpio/reading_recorder.hpp"

#include <boost/asio/post.hpp>

#include "common/log/log.hpp"

namespace ew::conductor::gpio {

namespace {

const ew::log::Logger Log{"gpio"};

constexpr char kDropped[] = "ew_gpio_readings_dropped_total";
constexpr char kDroppedHelp[] = "GPIO readings not stored, by reason (queue_full, invalid, store_error)";

// Batches take milliseconds; these buckets see both a quiet board and a stalled disk.
std::vector<double> BatchBuckets() { return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5}; }

}  // namespace

ReadingRecorder::ReadingRecorder(GpioStore& store, boost::asio::thread_pool& blocking,
                                 boost::asio::any_io_executor timers, const Clock& clock, metrics::Registry& metrics,
                                 RecorderOptions options)
    : store_(store),
      blocking_(blocking),
      clock_(clock),
      options_(options),
      prune_timer_(std::move(timers)),
      stored_total_(metrics.GetCounter("ew_gpio_readings_stored_total", "GPIO readings written to the store")),
      dropped_full_total_(metrics.GetCounter(kDropped, kDroppedHelp, {{"reason", "queue_full"}})),
      dropped_invalid_total_(metrics.GetCounter(kDropped, kDroppedHelp, {{"reason", "invalid"}})),
      dropped_error_total_(metrics.GetCounter(kDropped, kDroppedHelp, {{"reason", "store_error"}})),
      pruned_total_(metrics.GetCounter("ew_gpio_readings_pruned_total", "GPIO readings deleted past the retention")),
      queued_gauge_(metrics.GetGauge("ew_gpio_readings_queued", "GPIO readings waiting to be stored")),
      batch_seconds_(metrics.GetHistogram("ew_gpio_readings_batch_seconds", "Time to store one batch of GPIO readings",
                                          BatchBuckets())) {
  if (options_.max_queue == 0) options_.max_queue = 1;
  if (options_.max_batch == 0) options_.max_batch = 1;
}

ReadingRecorder::~ReadingRecorder() {
  alive_.reset();
  Flush();
}

void ReadingRecorder::Start() {
  boost::asio::post(blocking_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.expired()) (void)PruneNow();
  });
  SchedulePrune();
}

void ReadingRecorder::SchedulePrune() {
  prune_timer_.expires_after(options_.prune_interval);
  prune_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    boost::asio::post(blocking_, [this, alive] {
      if (!alive.expired()) (void)PruneNow();
    });
    SchedulePrune();
  });
}

void ReadingRecorder::Record(Reading reading) {
  if (auto valid = CheckReading(reading); !valid) {
    dropped_invalid_total_.Inc();
    Log()->debug("board={} reading dropped: {}", reading.board_id, valid.error().message);
    return;
  }
  bool schedule = false;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queue) {
      queue_.pop_front();
      dropped_full_total_.Inc();
    }
    queue_.push_back(std::move(reading));
    queued_gauge_.Set(static_cast<double>(queue_.size()));
    schedule = !drain_scheduled_;
    drain_scheduled_ = true;
  }
  if (schedule) {
    boost::asio::post(blocking_, [this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.expired()) Drain();
    });
  }
}

void ReadingRecorder::Drain() {
  while (WriteBatch()) {
  }
}

bool ReadingRecorder::WriteBatch() {
  std::lock_guard writing(write_mu_);
  std::vector<Reading> batch;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) {
      drain_scheduled_ = false;
      return false;
    }
    const size_t n = std::min(options_.max_batch, queue_.size());
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_gauge_.Set(static_cast<double>(queue_.size()));
  }
  const auto started = std::chrono::steady_clock::now();
  auto stored = store_.Insert(batch);
  batch_seconds_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (stored) {
    stored_total_.Inc(static_cast<double>(batch.size()));
  } else {
    // The store logged why (error: the operator must look at the disk); the batch is lost.
    dropped_error_total_.Inc(static_cast<double>(batch.size()));
    Log()->error("{} GPIO readings dropped: {}", batch.size(), stored.error().message);
  }
  return true;
}

void ReadingRecorder::Flush() {
  while (WriteBatch()) {
  }
}

Result<int64_t> ReadingRecorder::PruneNow() {
  const int64_t cutoff =
      std::chrono::duration_cast<std::chrono::nanoseconds>((clock_.Now() - options_.retention).time_since_epoch())
          .count();
  int64_t total = 0;
  for (;;) {
    EW_TRY(int64_t deleted, store_.PruneBefore(cutoff, options_.prune_chunk));
    total += deleted;
    if (deleted < options_.prune_chunk) break;
  }
  pruned_total_.Inc(static_cast<double>(total));
  if (total > 0) Log()->info("pruned {} GPIO readings older than {} days", total, options_.retention.count() / 24);
  return total;
}

size_t ReadingRecorder::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace ew::conductor::gpio
