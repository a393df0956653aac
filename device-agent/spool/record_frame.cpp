// Frame encoding and checking; CRC-32 from zlib.
#include "device-agent/spool/record_frame.hpp"

#include <zlib.h>

namespace ew::agent::spool {

namespace {

void PutU32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void PutU64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t GetU32(const char* in) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
uint64_t GetU64(const char* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

// crc32 over seq (8 bytes), length (4 bytes) and data, as laid out in the header.
uint32_t FrameCrc(const char* seq_bytes, const char* length_bytes, std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(seq_bytes), 8);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(length_bytes), 4);
  // zlib takes uInt lengths; records are capped far below 4 GiB (SpoolOptions).
  crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
  return static_cast<uint32_t>(crc);
}

}  // namespace

void AppendFrame(std::string& out, uint64_t seq, std::string_view data) {
  char header[kFrameHeaderBytes];
  PutU32(header, static_cast<uint32_t>(data.size()));
  PutU64(header + 8, seq);
  PutU32(header + 4, FrameCrc(header + 8, header, data));
  out.append(header, kFrameHeaderBytes);
  out.append(data.data(), data.size());
}

DecodedFrame DecodeFrame(std::string_view bytes, size_t max_record_bytes) {
  DecodedFrame frame;
  if (bytes.size() < kFrameHeaderBytes) {
    frame.status = FrameStatus::kTorn;
    return frame;
  }
  const uint32_t length = GetU32(bytes.data());
  if (length > max_record_bytes) return frame;  // kCorrupt
  if (bytes.size() < kFrameHeaderBytes + length) {
    frame.status = FrameStatus::kTorn;
    return frame;
  }
  const std::string_view data = bytes.substr(kFrameHeaderBytes, length);
  if (FrameCrc(bytes.data() + 8, bytes.data(), data) != GetU32(bytes.data() + 4)) return frame;
  frame.status = FrameStatus::kOk;
  frame.seq = GetU64(bytes.data() + 8);
  frame.data = data;
  frame.frame_bytes = kFrameHeaderBytes + length;
  return frame;
}

}  // namespace ew::agent::spool
