// One stream of the spool: its segment files, its state file, recovery, and the counters.
// Not thread-safe and not bounded by itself: Spool calls it under its lock and enforces the
// limits. Internal to device-agent/spool.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error/error.hpp"
#include "device-agent/spool/spool_fs.hpp"
#include "device-agent/spool/spool_options.hpp"

namespace ew::agent::spool {

class StreamLog {
 public:
  // Opens the stream in `dir` (created when missing) and recovers it: reads the state file,
  // checks every frame of every segment, truncates at the first torn or corrupt frame and
  // deletes the segments after it (counted, logged), deletes fully acknowledged segments.
  static Result<std::unique_ptr<StreamLog>> Open(SpoolFs& fs, std::filesystem::path dir, std::string name,
                                                 const SpoolOptions& options, StreamLimits limits);

  // Writes the next record (no bounds checked here). Errors leave nothing stored.
  Result<uint64_t> Append(std::string_view data);
  // Drops the oldest live record (counted in dropped_oldest); false when there is none.
  bool DropOldest();
  Result<std::vector<Record>> Peek(uint64_t after_seq, PeekLimits limits);
  Result<void> Ack(uint64_t seq);
  // fdatasync of the tail segment and the state file when they have unsynced writes.
  Result<void> Sync();
  void CountRefused() {
    ++refused_;
    state_dirty_ = true;
  }

  const std::string& name() const { return name_; }
  const StreamLimits& limits() const { return limits_; }
  void set_limits(StreamLimits limits) { limits_ = limits; }
  uint64_t live_records() const { return live_records_; }
  uint64_t live_bytes() const { return live_bytes_; }
  StreamStats Stats() const;

 private:
  struct Segment {
    uint64_t first_seq = 0;           // from the file name
    std::vector<uint32_t> offsets;    // where each record's frame starts
    uint64_t size = 0;                // bytes of whole frames
    uint64_t end_seq() const { return first_seq + offsets.size(); }
    uint64_t FrameBytes(size_t i) const { return (i + 1 < offsets.size() ? offsets[i + 1] : size) - offsets[i]; }
  };

  StreamLog(SpoolFs& fs, std::filesystem::path dir, std::string name, const SpoolOptions& options, StreamLimits limits);
  Result<void> Recover();
  // Reads and checks one segment's frames into `segment`; returns where the valid frames end.
  // Counts what is past that point as corrupt.
  Result<uint64_t> Scan(Segment& segment, SpoolFile& file, uint64_t expected_first);
  void ReadState();
  Result<void> WriteState();
  Result<void> Roll();
  // Removes segments (never the tail) holding only records below first_live_.
  void CollectGarbage();
  // Moves first_live_ to `seq`, taking the records before it out of the live counts.
  void Forget(uint64_t seq);
  std::filesystem::path SegmentPath(uint64_t first_seq) const;
  Result<SpoolFile*> FileOf(size_t segment_index);

  SpoolFs& fs_;
  const std::filesystem::path dir_;
  const std::string name_;
  const SpoolOptions& options_;
  StreamLimits limits_;

  std::deque<Segment> segments_;      // oldest first; the last is the tail
  std::unique_ptr<SpoolFile> tail_;   // the last segment, open for appends (null until needed)
  bool roll_needed_ = true;           // the next Append starts a new segment
  std::unique_ptr<SpoolFile> reader_; // a non-tail segment being read
  uint64_t reader_first_ = 0;         // which one
  std::unique_ptr<SpoolFile> state_;

  uint64_t first_live_ = 1;  // oldest record neither acknowledged nor dropped
  uint64_t next_seq_ = 1;
  uint64_t acked_seq_ = 0;
  uint64_t durable_seq_ = 0;
  uint64_t live_records_ = 0;
  uint64_t live_bytes_ = 0;
  uint64_t dropped_oldest_ = 0;
  uint64_t refused_ = 0;
  uint64_t corrupt_records_ = 0;
  uint64_t corrupt_bytes_ = 0;
  uint64_t state_generation_ = 0;
  bool tail_unsynced_ = false;
  bool state_dirty_ = false;     // counters changed, not yet written
  bool state_unsynced_ = false;  // written, not yet synced
  bool last_scan_torn_ = false;  // Scan stopped at a frame cut short, nothing whole after it
};

}  // namespace ew::agent::spool
