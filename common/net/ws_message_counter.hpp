// Counts the WebSocket data messages whose last byte has arrived in a stream of frames read from a
// peer (RFC 6455 §5.2), keeping no bytes: a frame header is parsed as it passes, the payload only
// skipped. A reader that hands its WebSocket library every byte it reads through Feed() can then
// tell, by comparing messages() with the messages the library has delivered, whether a whole
// message is already waiting in the library's buffer: the conductor's WsSession asks this to
// write what a lone frame produced at once, and to gather the writes of a burst (ws_session.hpp).
//
// Control frames (ping, pong, close) and the frames of a fragmented message before its last are
// not counted: a library delivers one message per data message, whatever its fragments. Any
// bytes are accepted (lengths up to 2^64 − 1); a malformed stream only makes the count
// meaningless, and the library rejects the stream anyway.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ew::net {

class WsMessageCounter {
 public:
  void Feed(const char* data, size_t n);
  uint64_t messages() const { return messages_; }

 private:
  void HeaderComplete();

  unsigned char header_[14] = {};  // the longest header: 2 + 8 (length) + 4 (mask)
  size_t have_ = 0;                // header bytes seen of the frame being parsed
  size_t need_ = 2;                // header bytes that frame has (known once the 2nd arrives)
  uint64_t payload_left_ = 0;      // payload bytes of the current frame still to pass
  bool ends_message_ = false;      // the current frame is the last of a data message
  uint64_t messages_ = 0;
};

}  // namespace ew::net
