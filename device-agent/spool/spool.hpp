// The agent's one on-disk spool: named streams of records ("fn.report", "gpio.event",
// "flow.<flow>.wire.<node>.<port>") that wait on the board until the conductor takes them.
//
// Each stream is a directory of segment files holding length + CRC-32 framed records
// (record_frame.hpp) and a small state file (what is acknowledged or dropped). Records get
// sequence numbers from 1; delivery reads them in order (Peek) and the receiver's answer
// acknowledges them (Ack up to a seq), so a record leaves the spool only once it has arrived —
// across agent crashes and restarts. A torn or corrupt record (a crash mid-write, a flipped
// byte) is found by its CRC when the spool opens: it and everything after it in its stream are
// truncated, counted (StreamStats::corrupt_*) and logged; half a record is never delivered.
// Streams are bounded (StreamLimits) and so is the whole spool; a full stream drops its oldest
// records or refuses new ones, and counts them.
//
// This class does blocking disk I/O in every method: the agent never calls it on its io thread
// but through AsyncSpool, whose writer thread is the only caller. Thread-safe (one lock), so
// tests and benchmarks may call it directly.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error/error.hpp"
#include "device-agent/spool/spool_fs.hpp"
#include "device-agent/spool/spool_options.hpp"

namespace ew::agent::spool {

class StreamLog;

class Spool {
 public:
  // Opens the spool in options.dir (created when missing) and recovers every stream in it.
  // `fs` null = POSIX. InvalidArgument for bad options; Internal when the directory cannot be
  // created or read.
  static Result<std::unique_ptr<Spool>> Open(SpoolOptions options, std::unique_ptr<SpoolFs> fs = nullptr);
  ~Spool();  // syncs what is unsynced
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Sets the limits and drop policy of `stream` (creating it empty if new). Records already
  // over the new bound stay until the next Append. InvalidArgument for a bad name or limits.
  Result<void> Configure(std::string_view stream, StreamLimits limits);

  // Stores `data` as the next record of `stream` (created on first use, with
  // SpoolOptions::default_limits) and returns its seq. When it returns, the record survives a
  // crash of the process; it is on the medium once Stats().durable_seq reaches it (SyncPolicy).
  // InvalidArgument: bad stream name, record over max_record_bytes. ResourceExhausted: no room
  // (kRefuseNewest, or the total bound with no drop-oldest stream to take from), or the disk is
  // full. Internal: another I/O error. On an error nothing is stored.
  Result<uint64_t> Append(std::string_view stream, std::string_view data);

  // Up to `limits` of the oldest records of `stream` with seq > after_seq that are neither
  // acknowledged nor dropped, in order. Empty when there are none (or no such stream). Peek
  // never removes anything: the same records come again until acknowledged. A record whose
  // CRC fails on read is skipped (a gap in seq), counted and logged.
  Result<std::vector<Record>> Peek(std::string_view stream, uint64_t after_seq, PeekLimits limits);

  // Acknowledges every record of `stream` up to and including `seq`: they are gone for good,
  // and segment files holding only such records are deleted. Acks below the current position
  // change nothing; an ack past the last record acknowledges all. NotFound: no such stream.
  Result<void> Ack(std::string_view stream, uint64_t seq);

  // fsyncs every stream with unsynced writes now.
  Result<void> Sync();
  // Records and acknowledgements written since the last sync, all streams.
  uint64_t UnsyncedRecords() const;

  std::optional<StreamStats> Stats(std::string_view stream) const;
  std::vector<StreamStats> AllStats() const;
  uint64_t TotalBytes() const;
  uint64_t TotalRecords() const;
  // Counts changes a stream did not ask for (the total bound dropped from another stream), so
  // a caller keeping copies of the stats knows to refresh all of them.
  uint64_t Epoch() const;
  const SpoolOptions& options() const { return options_; }
  // This spool's identity: 16 hex digits drawn when its directory was first used, kept in
  // <dir>/.id. Receivers that dedupe by seq key on it, since a new spool numbers from 1 again.
  const std::string& id() const { return id_; }

  // Used by Append's accounting (AsyncSpool refuses appends its queue cannot hold).
  void CountRefused(std::string_view stream);

 private:
  Spool(SpoolOptions options, std::unique_ptr<SpoolFs> fs);
  Result<void> Recover();
  Result<void> LoadIdentity();  // mu_ held
  Result<StreamLog*> GetOrCreate(std::string_view stream);  // mu_ held
  StreamLog* Find(std::string_view stream) const;          // mu_ held
  // Drops the oldest records of the largest drop-oldest stream until `bytes` more fit the
  // total bounds; false when no stream can give way. mu_ held.
  bool MakeRoomInTotal(uint64_t framed_bytes);
  Result<void> SyncLocked();
  uint64_t TotalBytesLocked() const;
  uint64_t TotalRecordsLocked() const;

  const SpoolOptions options_;
  std::unique_ptr<SpoolFs> fs_;
  std::string id_;  // set once by Open
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<StreamLog>, std::less<>> streams_;  // GUARDED_BY(mu_)
  uint64_t unsynced_records_ = 0;                                          // GUARDED_BY(mu_)
  uint64_t epoch_ = 0;                                                      // GUARDED_BY(mu_)
};

}  // namespace ew::agent::spool
