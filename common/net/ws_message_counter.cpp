#include "common/net/ws_message_counter.hpp"

#include <algorithm>

namespace ew::net {

void WsMessageCounter::Feed(const char* data, size_t n) {
  while (n > 0) {
    if (payload_left_ > 0) {
      const uint64_t take = std::min<uint64_t>(n, payload_left_);
      payload_left_ -= take;
      data += take;
      n -= static_cast<size_t>(take);
      if (payload_left_ == 0 && ends_message_) ++messages_;
      continue;
    }
    header_[have_++] = static_cast<unsigned char>(*data++);
    --n;
    if (have_ == 2) {
      const unsigned len7 = header_[1] & 0x7f;
      need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
    }
    if (have_ >= 2 && have_ == need_) HeaderComplete();
  }
}

void WsMessageCounter::HeaderComplete() {
  const bool fin = (header_[0] & 0x80) != 0;
  const unsigned opcode = header_[0] & 0x0f;
  const unsigned len7 = header_[1] & 0x7f;
  uint64_t length = len7;
  if (len7 >= 126) {
    const size_t bytes = len7 == 126 ? 2 : 8;
    length = 0;
    for (size_t i = 0; i < bytes; ++i) length = (length << 8) | header_[2 + i];
  }
  // Continuation (0), text (1), binary (2); 3-7 are reserved data opcodes, counted alike.
  ends_message_ = fin && opcode < 8;
  payload_left_ = length;
  have_ = 0;
  need_ = 2;
  if (length == 0 && ends_message_) ++messages_;
}

}  // namespace ew::net
