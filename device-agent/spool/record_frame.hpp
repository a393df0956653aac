// How a record sits in a segment file: a 16-byte header, then the record's bytes.
//
//   u32 length (little-endian)   bytes of the record
//   u32 crc    (little-endian)   zlib crc32 of [seq, length, record]
//   u64 seq    (little-endian)   the record's sequence number in its stream
//
// The CRC covers the length and seq as well as the data, so a torn write, a zero-filled tail
// (what some filesystems leave after a power cut) and a flipped byte anywhere are all caught.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ew::agent::spool {

inline constexpr size_t kFrameHeaderBytes = 16;

// Appends the frame of record `data` with number `seq` to `out`.
void AppendFrame(std::string& out, uint64_t seq, std::string_view data);

enum class FrameStatus {
  kOk,
  kTorn,     // `bytes` ends before the frame does (a write cut short)
  kCorrupt,  // length over the limit, or the CRC does not match
};

struct DecodedFrame {
  FrameStatus status = FrameStatus::kCorrupt;
  uint64_t seq = 0;
  std::string_view data;  // into the decoded bytes
  size_t frame_bytes = 0;  // header + data, when kOk
};

// Decodes the frame at the start of `bytes`. A length above `max_record_bytes` is kCorrupt.
DecodedFrame DecodeFrame(std::string_view bytes, size_t max_record_bytes);

}  // namespace ew::agent::spool
