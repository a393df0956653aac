// A stream's segments and state on disk. Recovery trusts nothing it reads: every frame's CRC
// and seq are checked, and the first bad one ends the stream there.
#include "device-agent/spool/stream_log.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>

#include "common/log/log.hpp"
#include "device-agent/spool/record_frame.hpp"

namespace ew::agent::spool {

namespace fs = std::filesystem;

namespace {

const ew::log::Logger Log{"spool"};

constexpr const char* kStateFile = "state";
constexpr const char* kSegmentSuffix = ".seg";
// The state file holds two slots written in turn: a torn write spoils one, the other stays.
constexpr uint32_t kStateMagic = 0x53535745;  // "EWSS"
constexpr uint32_t kStateVersion = 1;
constexpr size_t kStateSlotBytes = 128;
constexpr size_t kStateFields = 8;  // u64 fields after magic + version
constexpr size_t kStateBodyBytes = 8 + 8 * kStateFields;

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetU64(const char* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
uint32_t Crc(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// "00000000000000000042.seg" → 42; 0 for anything else.
uint64_t SegmentSeq(const std::string& name) {
  const size_t digits = name.size() - std::string_view(kSegmentSuffix).size();
  if (name.size() != 20 + std::string_view(kSegmentSuffix).size() || name.compare(digits, 4, kSegmentSuffix) != 0)
    return 0;
  uint64_t seq = 0;
  for (size_t i = 0; i < digits; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    seq = seq * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return seq;
}

}  // namespace

StreamLog::StreamLog(SpoolFs& fs, fs::path dir, std::string name, const SpoolOptions& options, StreamLimits limits)
    : fs_(fs), dir_(std::move(dir)), name_(std::move(name)), options_(options), limits_(limits) {}

Result<std::unique_ptr<StreamLog>> StreamLog::Open(SpoolFs& fs, fs::path dir, std::string name,
                                                   const SpoolOptions& options, StreamLimits limits) {
  std::unique_ptr<StreamLog> log(new StreamLog(fs, std::move(dir), std::move(name), options, limits));
  EW_TRY_VOID(log->Recover());
  return log;
}

fs::path StreamLog::SegmentPath(uint64_t first_seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu%s", static_cast<unsigned long long>(first_seq), kSegmentSuffix);
  return dir_ / name;
}

void StreamLog::ReadState() {
  uint64_t best_generation = 0;
  for (size_t slot = 0; slot < 2; ++slot) {
    // The body, then its CRC-32 stored as a u64 (WriteState): 8 bytes, not 4.
    auto bytes = state_->ReadAt(slot * kStateSlotBytes, kStateBodyBytes + 8);
    if (!bytes || bytes->size() < kStateBodyBytes + 8) continue;
    const char* p = bytes->data();
    const uint32_t stored_crc = static_cast<uint32_t>(GetU64(p + kStateBodyBytes) & 0xffffffffu);
    if (Crc(std::string_view(p, kStateBodyBytes)) != stored_crc) continue;
    if ((GetU64(p) & 0xffffffffu) != kStateMagic || (GetU64(p) >> 32) != kStateVersion) continue;
    const uint64_t generation = GetU64(p + 8);
    if (generation < best_generation) continue;
    best_generation = generation;
    state_generation_ = generation;
    first_live_ = std::max<uint64_t>(1, GetU64(p + 16));
    acked_seq_ = GetU64(p + 24);
    next_seq_ = std::max(first_live_, GetU64(p + 32));
    dropped_oldest_ = GetU64(p + 40);
    refused_ = GetU64(p + 48);
    corrupt_records_ = GetU64(p + 56);
    corrupt_bytes_ = GetU64(p + 64);
  }
}

Result<void> StreamLog::WriteState() {
  std::string body;
  PutU64(body, kStateMagic | (static_cast<uint64_t>(kStateVersion) << 32));
  PutU64(body, ++state_generation_);
  PutU64(body, first_live_);
  PutU64(body, acked_seq_);
  PutU64(body, next_seq_);
  PutU64(body, dropped_oldest_);
  PutU64(body, refused_);
  PutU64(body, corrupt_records_);
  PutU64(body, corrupt_bytes_);
  PutU64(body, Crc(body));
  EW_TRY_VOID(state_->WriteAt((state_generation_ % 2) * kStateSlotBytes, body));
  state_dirty_ = false;
  state_unsynced_ = true;
  return Ok();
}

Result<uint64_t> StreamLog::Scan(Segment& segment, SpoolFile& file, uint64_t expected_first) {
  EW_TRY(std::string bytes, file.ReadAt(0, file.Size()));
  std::string_view rest(bytes);
  uint64_t offset = 0;
  uint64_t seq = expected_first;
  while (!rest.empty()) {
    DecodedFrame frame = DecodeFrame(rest, options_.max_record_bytes);
    if (frame.status != FrameStatus::kOk || frame.seq != seq) {
      // Everything from here on is lost: count the frames that still parse as a lower bound.
      uint64_t lost = 1;
      std::string_view after = rest;
      if (frame.status == FrameStatus::kOk) after.remove_prefix(frame.frame_bytes);
      else if (after.size() >= kFrameHeaderBytes) {
        // A bad CRC with a plausible length: the frames after it may still be whole.
        const uint32_t length = static_cast<unsigned char>(after[0]) | static_cast<unsigned char>(after[1]) << 8 |
                                static_cast<unsigned char>(after[2]) << 16 |
                                static_cast<uint32_t>(static_cast<unsigned char>(after[3])) << 24;
        after.remove_prefix(std::min<size_t>(after.size(), kFrameHeaderBytes + length));
      } else {
        after = {};
      }
      for (DecodedFrame next = DecodeFrame(after, options_.max_record_bytes); next.status == FrameStatus::kOk;
           next = DecodeFrame(after, options_.max_record_bytes)) {
        ++lost;
        after.remove_prefix(next.frame_bytes);
      }
      corrupt_records_ += lost;
      corrupt_bytes_ += rest.size();
      state_dirty_ = true;
      Log()->warn("stream {}: segment {} has a {} frame at offset {} (record {}): {} byte(s) and at least {} "
                  "record(s) from there dropped",
                  name_, SegmentPath(segment.first_seq).filename().string(),
                  frame.status == FrameStatus::kTorn ? "torn" : "corrupt", offset, seq, rest.size(), lost);
      last_scan_torn_ = frame.status == FrameStatus::kTorn && lost == 1;
      EW_TRY_VOID(file.Truncate(offset));
      break;
    }
    segment.offsets.push_back(static_cast<uint32_t>(offset));
    offset += frame.frame_bytes;
    rest.remove_prefix(frame.frame_bytes);
    ++seq;
  }
  segment.size = offset;
  return offset;
}

Result<void> StreamLog::Recover() {
  EW_TRY_VOID(fs_.CreateDir(dir_));
  EW_TRY(state_, fs_.Open(dir_ / kStateFile, /*create=*/true));
  ReadState();
  EW_TRY(std::vector<std::string> names, fs_.List(dir_));
  std::vector<uint64_t> firsts;
  for (const auto& name : names) {
    if (uint64_t seq = SegmentSeq(name); seq > 0) firsts.push_back(seq);
  }
  std::sort(firsts.begin(), firsts.end());

  bool broken = false;     // a corrupt frame was found: later segments go
  uint64_t seq_floor = 0;  // no seq below this may be given again after a corruption
  for (uint64_t first : firsts) {
    const fs::path path = SegmentPath(first);
    EW_TRY(std::unique_ptr<SpoolFile> file, fs_.Open(path, false));
    const uint64_t file_bytes = file->Size();
    const uint64_t previous_end = segments_.empty() ? 0 : segments_.back().end_seq();
    if (broken || first < previous_end) {
      // Records we cannot vouch for; their seqs may have been delivered (unacknowledged).
      seq_floor = std::max(seq_floor, first + file_bytes / kFrameHeaderBytes + 1);
      if (!broken) {
        Log()->warn("stream {}: segment {} overlaps the one before it: dropped", name_, path.filename().string());
      }
      // Counted by the frames that still parse in it (Scan's own counting is undone).
      Segment lost;
      lost.first_seq = first;
      const uint64_t records_before = corrupt_records_;
      const uint64_t bytes_before = corrupt_bytes_;
      (void)Scan(lost, *file, first);
      corrupt_records_ = records_before + std::max<uint64_t>(lost.offsets.size(), 1);
      corrupt_bytes_ = bytes_before + file_bytes;
      Log()->warn("stream {}: segment {} dropped after the corruption before it: {} record(s)", name_,
                  path.filename().string(), lost.offsets.size());
      state_dirty_ = true;
      file.reset();
      EW_TRY_VOID(fs_.Remove(path));
      broken = true;
      continue;
    }
    Segment segment;
    segment.first_seq = first;
    last_scan_torn_ = false;
    EW_TRY(uint64_t valid, Scan(segment, *file, first));
    if (valid < file_bytes) {
      broken = true;
      // A write cut short at the very end was never whole, so never delivered: its seq may be
      // given again. Anything else may have left the board.
      const bool torn_tail = last_scan_torn_ && first == firsts.back();
      if (!torn_tail) seq_floor = std::max(seq_floor, first + file_bytes / kFrameHeaderBytes + 1);
    }
    segments_.push_back(std::move(segment));
  }

  // Where the stream goes on: after the last whole record, never reusing a seq that may have
  // left the board before a corruption.
  uint64_t end = segments_.empty() ? 1 : segments_.back().end_seq();
  next_seq_ = std::max({next_seq_, end, seq_floor, first_live_});
  if (!segments_.empty()) first_live_ = std::max(first_live_, segments_.front().first_seq);
  if (segments_.empty() || first_live_ >= segments_.back().end_seq()) first_live_ = std::max(first_live_, end);
  first_live_ = std::min(first_live_, next_seq_);
  for (const Segment& segment : segments_) {
    for (size_t i = 0; i < segment.offsets.size(); ++i) {
      if (segment.first_seq + i < first_live_) continue;
      ++live_records_;
      live_bytes_ += segment.FrameBytes(i);
    }
  }
  CollectGarbage();
  // The tail takes more records only if nothing is missing at its end.
  if (!segments_.empty() && segments_.back().end_seq() == next_seq_ && segments_.back().size < options_.segment_bytes) {
    EW_TRY(tail_, fs_.Open(SegmentPath(segments_.back().first_seq), false));
    roll_needed_ = false;
    // What an earlier run wrote may still be only in the page cache.
    EW_TRY_VOID(tail_->Sync());
  }
  durable_seq_ = next_seq_ - 1;
  if (broken) EW_TRY_VOID(fs_.SyncDir(dir_));
  if (state_dirty_) {
    EW_TRY_VOID(WriteState());
    EW_TRY_VOID(state_->Sync());
    state_unsynced_ = false;
  }
  if (live_records_ > 0 || corrupt_records_ > 0)
    Log()->info("stream {}: {} record(s) waiting (seq {}..{}), {} segment(s)", name_, live_records_, first_live_,
                next_seq_ - 1, segments_.size());
  return Ok();
}

Result<void> StreamLog::Roll() {
  if (tail_) {
    // A closed segment is on the medium before the next one starts (SD cards reorder writes).
    EW_TRY_VOID(tail_->Sync());
    tail_unsynced_ = false;
    durable_seq_ = next_seq_ - 1;
    tail_.reset();
  }
  const fs::path path = SegmentPath(next_seq_);
  EW_TRY(std::unique_ptr<SpoolFile> file, fs_.Open(path, /*create=*/true));
  if (file->Size() > 0) EW_TRY_VOID(file->Truncate(0));  // left by a failed roll
  // The new name must survive a power cut as well as what goes into it.
  EW_TRY_VOID(fs_.SyncDir(dir_));
  Segment segment;
  segment.first_seq = next_seq_;
  segments_.push_back(std::move(segment));
  tail_ = std::move(file);
  roll_needed_ = false;
  return Ok();
}

Result<uint64_t> StreamLog::Append(std::string_view data) {
  if (roll_needed_ || !tail_ || segments_.empty() || segments_.back().size >= options_.segment_bytes) {
    EW_TRY_VOID(Roll());
  }
  std::string frame;
  frame.reserve(kFrameHeaderBytes + data.size());
  const uint64_t seq = next_seq_;
  AppendFrame(frame, seq, data);
  EW_TRY_VOID(tail_->Append(frame));
  Segment& tail = segments_.back();
  tail.offsets.push_back(static_cast<uint32_t>(tail.size));
  tail.size += frame.size();
  ++next_seq_;
  ++live_records_;
  live_bytes_ += frame.size();
  tail_unsynced_ = true;
  if (options_.sync.mode == SyncMode::kEveryRecord) EW_TRY_VOID(Sync());
  return seq;
}

void StreamLog::Forget(uint64_t seq) {
  seq = std::min(seq, next_seq_);
  if (seq <= first_live_) return;
  for (const Segment& segment : segments_) {
    if (segment.end_seq() <= first_live_) continue;
    if (segment.first_seq >= seq) break;
    const uint64_t from = std::max(first_live_, segment.first_seq) - segment.first_seq;
    const uint64_t to = std::min(seq, segment.end_seq()) - segment.first_seq;
    for (uint64_t i = from; i < to; ++i) {
      --live_records_;
      live_bytes_ -= segment.FrameBytes(i);
    }
  }
  first_live_ = seq;
}

bool StreamLog::DropOldest() {
  if (live_records_ == 0) return false;
  // The oldest live record: first_live_ itself, or the start of the next segment after a gap.
  uint64_t oldest = first_live_;
  for (const Segment& segment : segments_) {
    if (segment.end_seq() > first_live_) {
      oldest = std::max(first_live_, segment.first_seq);
      break;
    }
  }
  Forget(oldest + 1);
  ++dropped_oldest_;
  if (dropped_oldest_ % 1000 == 1)
    Log()->warn("stream {} is full ({} records, {} bytes): dropping its oldest records, {} so far", name_,
                live_records_ + 1, live_bytes_, dropped_oldest_);
  state_dirty_ = true;
  CollectGarbage();
  return true;
}

void StreamLog::CollectGarbage() {
  while (segments_.size() > 1 && segments_.front().end_seq() <= first_live_) {
    const fs::path path = SegmentPath(segments_.front().first_seq);
    if (reader_ && reader_first_ == segments_.front().first_seq) reader_.reset();
    if (auto removed = fs_.Remove(path); !removed) {
      Log()->warn("stream {}: {}", name_, removed.error().message);
      return;
    }
    segments_.pop_front();
  }
}

Result<void> StreamLog::Ack(uint64_t seq) {
  if (next_seq_ == 1) return Ok();
  seq = std::min(seq, next_seq_ - 1);
  if (seq <= acked_seq_ && seq < first_live_) return Ok();
  acked_seq_ = std::max(acked_seq_, seq);
  Forget(seq + 1);
  // Written at once (not synced): an agent crash after an ack must not deliver the records
  // again; a power cut may, within one sync interval.
  EW_TRY_VOID(WriteState());
  if (options_.sync.mode == SyncMode::kEveryRecord) {
    EW_TRY_VOID(state_->Sync());
    state_unsynced_ = false;
  }
  CollectGarbage();
  return Ok();
}

Result<SpoolFile*> StreamLog::FileOf(size_t index) {
  if (index + 1 == segments_.size() && tail_) return tail_.get();
  const uint64_t first = segments_[index].first_seq;
  if (!reader_ || reader_first_ != first) {
    reader_.reset();
    EW_TRY(reader_, fs_.Open(SegmentPath(first), false));
    reader_first_ = first;
  }
  return reader_.get();
}

Result<std::vector<Record>> StreamLog::Peek(uint64_t after_seq, PeekLimits limits) {
  std::vector<Record> out;
  uint64_t start = std::max(first_live_, after_seq + 1);
  size_t data_bytes = 0;
  const size_t max_records = std::max<size_t>(1, limits.max_records);
  for (size_t s = 0; s < segments_.size() && out.size() < max_records; ++s) {
    const Segment& segment = segments_[s];
    if (segment.end_seq() <= start || segment.offsets.empty()) continue;
    const size_t from = std::max(start, segment.first_seq) - segment.first_seq;
    // The records of this segment that fit the limits (at least one overall).
    size_t to = from;
    while (to < segment.offsets.size() && out.size() + (to - from) < max_records) {
      const size_t bytes = segment.FrameBytes(to) - kFrameHeaderBytes;
      if ((!out.empty() || to > from) && data_bytes + bytes > limits.max_bytes) break;
      data_bytes += bytes;
      ++to;
    }
    if (to == from) break;
    const uint64_t begin = segment.offsets[from];
    const uint64_t end = to < segment.offsets.size() ? segment.offsets[to] : segment.size;
    EW_TRY(SpoolFile * file, FileOf(s));
    EW_TRY(std::string bytes, file->ReadAt(begin, end - begin));
    std::string_view rest(bytes);
    for (size_t i = from; i < to; ++i) {
      const uint64_t seq = segment.first_seq + i;
      const uint64_t frame_bytes = segment.FrameBytes(i);
      DecodedFrame frame = DecodeFrame(rest.substr(0, std::min<size_t>(rest.size(), frame_bytes)), options_.max_record_bytes);
      if (frame.status != FrameStatus::kOk || frame.seq != seq) {
        // Damaged since it was written (the medium): skipped, so delivery goes on.
        ++corrupt_records_;
        corrupt_bytes_ += frame_bytes;
        state_dirty_ = true;
        Log()->error("stream {}: record {} fails its CRC on read: skipped", name_, seq);
      } else {
        out.push_back(Record{seq, std::string(frame.data)});
      }
      rest.remove_prefix(std::min<size_t>(rest.size(), frame_bytes));
    }
    start = segment.first_seq + to;
    if (to < segment.offsets.size()) break;  // a limit was reached
  }
  return out;
}

Result<void> StreamLog::Sync() {
  if (tail_ && tail_unsynced_) {
    EW_TRY_VOID(tail_->Sync());
    tail_unsynced_ = false;
  }
  durable_seq_ = next_seq_ - 1;
  if (state_dirty_) EW_TRY_VOID(WriteState());
  if (state_unsynced_) {
    EW_TRY_VOID(state_->Sync());
    state_unsynced_ = false;
  }
  return Ok();
}

StreamStats StreamLog::Stats() const {
  StreamStats stats;
  stats.name = name_;
  stats.policy = limits_.policy;
  stats.first_seq = first_live_;
  stats.next_seq = next_seq_;
  stats.records = live_records_;
  stats.bytes = live_bytes_;
  stats.durable_seq = durable_seq_;
  stats.acked_seq = acked_seq_;
  stats.dropped_oldest = dropped_oldest_;
  stats.refused = refused_;
  stats.corrupt_records = corrupt_records_;
  stats.corrupt_bytes = corrupt_bytes_;
  stats.segments = segments_.size();
  return stats;
}

}  // namespace ew::agent::spool
