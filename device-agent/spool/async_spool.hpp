// The spool as the agent's io thread uses it: every disk operation runs on one writer thread
// owned by this object, and each completion is posted back to the io_context given to Open.
//
// Threading contract:
//  - Append, Peek, Ack, Sync, Configure may be called from any thread (the agent calls them
//    from its io thread); they only queue work and never block on the disk.
//  - Operations run on the writer thread one at a time, in the order they were called, so
//    an Append's seq, a Peek after it and an Ack see each other's effects in call order.
//  - `done` callbacks run on the io_context passed to Open, in the order of the operations.
//    They may run after this object is gone if that io_context still runs: they must not
//    reach it through a raw pointer (hold a weak_ptr to whatever they touch).
//  - Stats and AllStats are snapshots, readable from any thread without waiting for the disk.
//  - Group commit: the writer thread fsyncs SyncPolicy::interval after the first unsynced
//    write, or at once after max_unsynced_records.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "device-agent/spool/spool.hpp"

namespace ew::agent::spool {

class AsyncSpool {
 public:
  // Opens (and recovers) the spool on the calling thread — blocking; call at start-up, before
  // the io_context runs — and starts the writer thread. Errors as Spool::Open.
  static Result<std::unique_ptr<AsyncSpool>> Open(boost::asio::io_context& io, SpoolOptions options,
                                                  std::unique_ptr<SpoolFs> fs = nullptr);
  // Runs what is queued, syncs, and joins the writer thread. Completions still queued on the
  // io_context are not cancelled (see above).
  ~AsyncSpool();
  AsyncSpool(const AsyncSpool&) = delete;
  AsyncSpool& operator=(const AsyncSpool&) = delete;

  // Limits and drop policy of `stream`, applied before any later operation. InvalidArgument
  // (returned at once) for a bad name or limits.
  Result<void> Configure(std::string_view stream, StreamLimits limits);

  using AppendDone = std::function<void(Result<uint64_t>)>;
  using PeekDone = std::function<void(Result<std::vector<Record>>)>;
  using Done = std::function<void(Result<void>)>;

  // Spool::Append on the writer thread; `done` (optional) gets the seq or the error. Beyond
  // SpoolOptions::max_queued_bytes waiting for the writer, fails at once (ResourceExhausted,
  // counted as refused) — `done` is still posted, never called inline.
  void Append(std::string stream, std::string data, AppendDone done = nullptr);
  // Spool::Peek on the writer thread.
  void Peek(std::string stream, uint64_t after_seq, PeekLimits limits, PeekDone done);
  // Spool::Ack on the writer thread; `done` optional.
  void Ack(std::string stream, uint64_t seq, Done done = nullptr);
  // fsyncs everything written so far; `done` optional.
  void Sync(Done done = nullptr);

  // Spool::id(): fixed once open. Any thread.
  const std::string& id() const { return spool_->id(); }

  // Snapshots as of the last operation the writer thread finished. Any thread.
  std::optional<StreamStats> Stats(std::string_view stream) const;
  std::vector<StreamStats> AllStats() const;

 private:
  AsyncSpool(boost::asio::io_context& io, std::unique_ptr<Spool> spool);
  // Writer thread: after an operation on `stream`, refreshes the snapshot and arms the group
  // commit timer.
  void AfterOperation(std::string_view stream);
  void ArmSyncTimer();

  boost::asio::io_context& io_;        // completions go here
  std::unique_ptr<Spool> spool_;       // used on the writer thread only
  boost::asio::io_context writer_io_;  // the writer thread's queue
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> writer_work_;
  boost::asio::steady_timer sync_timer_;  // writer thread only
  bool sync_armed_ = false;               // writer thread only
  uint64_t seen_epoch_ = 0;               // writer thread only
  std::atomic<size_t> queued_bytes_{0};

  mutable std::mutex stats_mu_;  // never held across disk I/O
  std::map<std::string, StreamStats, std::less<>> stats_;  // GUARDED_BY(stats_mu_)

  std::thread writer_;  // last: started once everything above exists
};

}  // namespace ew::agent::spool
