// The writer thread in front of Spool: the io thread queues, the writer does the disk work
// and group commits, completions go back to the io thread.
#include "device-agent/spool/async_spool.hpp"

#include <boost/asio/post.hpp>

#include "common/log/log.hpp"

namespace ew::agent::spool {

namespace {

std::shared_ptr<spdlog::logger> Log() {
  static auto logger = ew::log::Get("spool");
  return logger;
}

}  // namespace

Result<std::unique_ptr<AsyncSpool>> AsyncSpool::Open(boost::asio::io_context& io, SpoolOptions options,
                                                     std::unique_ptr<SpoolFs> fs) {
  EW_TRY(std::unique_ptr<Spool> spool, Spool::Open(std::move(options), std::move(fs)));
  return std::unique_ptr<AsyncSpool>(new AsyncSpool(io, std::move(spool)));
}

AsyncSpool::AsyncSpool(boost::asio::io_context& io, std::unique_ptr<Spool> spool)
    : io_(io),
      spool_(std::move(spool)),
      writer_io_(1),
      writer_work_(boost::asio::make_work_guard(writer_io_)),
      sync_timer_(writer_io_) {
  {
    std::lock_guard lock(stats_mu_);
    for (auto& stats : spool_->AllStats()) stats_[stats.name] = stats;
  }
  seen_epoch_ = spool_->Epoch();
  writer_ = std::thread([this] {
    for (;;) {
      try {
        writer_io_.run();
        return;
      } catch (const std::exception& e) {
        Log()->error("spool writer: {}", e.what());
      }
    }
  });
}

AsyncSpool::~AsyncSpool() {
  // Everything queued runs; then the timer goes and the writer's loop ends.
  boost::asio::post(writer_io_, [this] {
    sync_timer_.cancel();
    if (auto synced = spool_->Sync(); !synced) Log()->error("spool: {}", synced.error().message);
    writer_work_.reset();
  });
  writer_.join();
}

Result<void> AsyncSpool::Configure(std::string_view stream, StreamLimits limits) {
  if (!IsValidStreamName(stream)) return InvalidArgument("bad spool stream name \"" + ew::log::Untrusted(stream, 64) + "\"");
  if (limits.max_bytes == 0 || limits.max_records == 0)
    return InvalidArgument("spool stream limits: max_bytes and max_records must be positive");
  boost::asio::post(writer_io_, [this, name = std::string(stream), limits] {
    if (auto configured = spool_->Configure(name, limits); !configured)
      Log()->error("spool: configuring {}: {}", name, configured.error().message);
    AfterOperation(name);
  });
  return Ok();
}

void AsyncSpool::Append(std::string stream, std::string data, AppendDone done) {
  const size_t bytes = data.size() + stream.size();
  if (queued_bytes_.fetch_add(bytes) + bytes > spool_->options().max_queued_bytes) {
    queued_bytes_.fetch_sub(bytes);
    // Counted on the writer thread, which alone touches the spool.
    boost::asio::post(writer_io_, [this, stream] {
      spool_->CountRefused(stream);
      AfterOperation(stream);
    });
    if (done) {
      boost::asio::post(io_, [done = std::move(done)] {
        done(ResourceExhausted("spool writer is behind: more than its queue holds is waiting"));
      });
    }
    return;
  }
  boost::asio::post(writer_io_, [this, bytes, stream = std::move(stream), data = std::move(data),
                                 done = std::move(done)]() mutable {
    Result<uint64_t> seq = spool_->Append(stream, data);
    queued_bytes_.fetch_sub(bytes);
    AfterOperation(stream);
    if (done) boost::asio::post(io_, [done = std::move(done), seq = std::move(seq)] { done(seq); });
  });
}

void AsyncSpool::Peek(std::string stream, uint64_t after_seq, PeekLimits limits, PeekDone done) {
  boost::asio::post(writer_io_, [this, stream = std::move(stream), after_seq, limits, done = std::move(done)]() mutable {
    auto records = spool_->Peek(stream, after_seq, limits);
    boost::asio::post(io_, [done = std::move(done), records = std::move(records)]() mutable { done(std::move(records)); });
  });
}

void AsyncSpool::Ack(std::string stream, uint64_t seq, Done done) {
  boost::asio::post(writer_io_, [this, stream = std::move(stream), seq, done = std::move(done)]() mutable {
    Result<void> acked = spool_->Ack(stream, seq);
    AfterOperation(stream);
    if (done) boost::asio::post(io_, [done = std::move(done), acked = std::move(acked)] { done(acked); });
  });
}

void AsyncSpool::Sync(Done done) {
  boost::asio::post(writer_io_, [this, done = std::move(done)]() mutable {
    Result<void> synced = spool_->Sync();
    if (!synced) Log()->error("spool: {}", synced.error().message);
    {
      std::lock_guard lock(stats_mu_);
      for (auto& stats : spool_->AllStats()) stats_[stats.name] = stats;
    }
    if (done) boost::asio::post(io_, [done = std::move(done), synced = std::move(synced)] { done(synced); });
  });
}

void AsyncSpool::AfterOperation(std::string_view stream) {
  const uint64_t epoch = spool_->Epoch();
  {
    std::lock_guard lock(stats_mu_);
    if (epoch != seen_epoch_) {
      // The total bound took records from other streams: refresh them all.
      for (auto& stats : spool_->AllStats()) stats_[stats.name] = stats;
    } else if (auto stats = spool_->Stats(stream)) {
      stats_[stats->name] = *stats;
    }
  }
  seen_epoch_ = epoch;
  if (spool_->UnsyncedRecords() > 0) ArmSyncTimer();
}

void AsyncSpool::ArmSyncTimer() {
  if (sync_armed_ || spool_->options().sync.mode != SyncMode::kGroupCommit) return;
  sync_armed_ = true;
  sync_timer_.expires_after(spool_->options().sync.interval);
  sync_timer_.async_wait([this](const boost::system::error_code& ec) {
    sync_armed_ = false;
    if (ec) return;
    if (auto synced = spool_->Sync(); !synced) Log()->error("spool: {}", synced.error().message);
    std::lock_guard lock(stats_mu_);
    for (auto& stats : spool_->AllStats()) stats_[stats.name] = stats;
  });
}

std::optional<StreamStats> AsyncSpool::Stats(std::string_view stream) const {
  std::lock_guard lock(stats_mu_);
  auto it = stats_.find(stream);
  if (it == stats_.end()) return std::nullopt;
  return it->second;
}

std::vector<StreamStats> AsyncSpool::AllStats() const {
  std::lock_guard lock(stats_mu_);
  std::vector<StreamStats> out;
  for (const auto& [name, stats] : stats_) out.push_back(stats);
  return out;
}

}  // namespace ew::agent::spool
