// Settings of the agent's on-disk spool (device-agent/spool): where it lives, how big a stream
// and the whole spool may grow, what happens when they are full, and how often it fsyncs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ew::agent::spool {

// What a full stream does with the next record.
enum class DropPolicy {
  kDropOldest,    // the oldest unacknowledged records make room (counted in dropped_oldest)
  kRefuseNewest,  // Append fails with ResourceExhausted (counted in refused); nothing stored goes
};
std::string_view DropPolicyName(DropPolicy policy);  // "drop-oldest" | "refuse-newest"

struct StreamLimits {
  // Unacknowledged framed bytes (record + 16-byte frame) kept for the stream. Disk use may pass
  // it by up to one segment, since segments are deleted whole once fully acknowledged.
  uint64_t max_bytes = 16ull << 20;
  uint64_t max_records = 100'000;  // unacknowledged records kept for the stream
  DropPolicy policy = DropPolicy::kDropOldest;
};

enum class SyncMode {
  // Group commit (default): a written record is fsynced within `interval` or once
  // `max_unsynced_records` have been written, whichever comes first. An agent crash (kill -9)
  // loses nothing that Append reported (the bytes are in the kernel's page cache); a power cut
  // loses at most the records of the last interval. SD cards do a few hundred syncs per second
  // at best and wear with each: syncing every record costs two orders of magnitude in appends/s
  // (docs/BENCHMARKS.md, "Agent spool").
  kGroupCommit,
  kEveryRecord,  // fdatasync after each record: nothing reported is lost even on a power cut
  kNever,        // only on segment roll and Close (tests, benchmarks, tmpfs)
};

struct SyncPolicy {
  SyncMode mode = SyncMode::kGroupCommit;
  std::chrono::milliseconds interval{200};  // longest a written record waits for its fsync
  uint64_t max_unsynced_records = 256;      // or this many records, whichever comes first
};

struct SpoolOptions {
  // One directory holds every stream: <dir>/<stream>/{state,<first seq>.seg}. Created (0700)
  // when missing.
  std::filesystem::path dir = "/var/lib/edgewire/spool";
  // A record larger than this is refused (InvalidArgument): the largest message the router
  // accepts (RouterConfig::max_message_bytes) is the largest anything spooled can become.
  size_t max_record_bytes = 1u << 20;
  // A segment file is closed (fdatasync) and a new one started past this size.
  uint64_t segment_bytes = 1u << 20;
  // All streams together; when passed, the largest drop-oldest stream loses its oldest records;
  // if no such stream has any, the record is refused (ResourceExhausted).
  uint64_t max_total_bytes = 64ull << 20;
  uint64_t max_total_records = 400'000;
  // Limits of a stream that Configure() has not named.
  StreamLimits default_limits;
  SyncPolicy sync;
  // AsyncSpool only: bytes of appends waiting for the writer thread; past it Append fails at
  // once with ResourceExhausted (counted as refused), so a flood cannot grow memory.
  size_t max_queued_bytes = 8u << 20;
};

// A stream name: 1-200 characters of [A-Za-z0-9_.-], not starting with '.' ("fn.report",
// "gpio.event", "flow.<flow>.wire.<node>.<port>"). It names the stream's directory.
bool IsValidStreamName(std::string_view name);

// One record as stored: its sequence number in its stream (from 1, increasing; a gap means
// records were lost to corruption) and its bytes.
struct Record {
  uint64_t seq = 0;
  std::string data;
};

// What one Peek may return: at most `max_records`, and at most `max_bytes` of record data
// (but always at least one record when there is one).
struct PeekLimits {
  size_t max_records = 64;
  size_t max_bytes = 1u << 20;
};

// Counters of one stream. Thread-safe snapshot (Spool::Stats).
struct StreamStats {
  std::string name;
  DropPolicy policy = DropPolicy::kDropOldest;
  uint64_t first_seq = 1;  // oldest record not yet acknowledged or dropped (= next_seq if none)
  uint64_t next_seq = 1;   // what the next Append gets
  uint64_t records = 0;    // stored, not yet acknowledged
  uint64_t bytes = 0;      // framed bytes of those
  uint64_t durable_seq = 0;     // records up to here are fsynced
  uint64_t acked_seq = 0;       // acknowledged up to here
  uint64_t dropped_oldest = 0;  // removed to make room (kDropOldest), since the spool was created
  uint64_t refused = 0;         // appends refused for room (kRefuseNewest, total bound, writer queue)
  uint64_t corrupt_records = 0; // found torn or corrupt (CRC) at recovery or read, and dropped
  uint64_t corrupt_bytes = 0;   // bytes truncated with them
  uint64_t segments = 0;        // segment files on disk
};

}  // namespace ew::agent::spool
