// WsMessageCounter (common/net): whole data messages counted in a stream of WebSocket frames,
// however the stream is cut into reads.
#include "common/net/ws_message_counter.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ew::net {
namespace {

// One frame as a client sends it (masked) or a server (not), RFC 6455 §5.2.
std::string Frame(bool fin, unsigned opcode, size_t length, bool masked = true) {
  std::string f;
  f += static_cast<char>((fin ? 0x80 : 0) | opcode);
  const char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (length < 126) {
    f += static_cast<char>(mask_bit | static_cast<char>(length));
  } else if (length <= 0xffff) {
    f += static_cast<char>(mask_bit | 126);
    for (int shift = 8; shift >= 0; shift -= 8) f += static_cast<char>((length >> shift) & 0xff);
  } else {
    f += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((uint64_t{length} >> shift) & 0xff);
  }
  if (masked) f += std::string("\x12\x34\x56\x78", 4);
  // Payload bytes that look like headers, so that a counter reading them as headers would miscount.
  f += std::string(length, static_cast<char>(0x82));
  return f;
}

struct Piece {
  std::string bytes;
  uint64_t messages_after;  // what the counter says once these bytes are in
};

// A stream of frames with the count expected after each: every header length encoding, empty
// payloads, a fragmented message with a ping between its fragments, masked and unmasked frames.
std::vector<Piece> Stream() {
  std::vector<Piece> s;
  uint64_t n = 0;
  for (size_t length : {0, 1, 125, 126, 127, 300, 65535, 65536, 70000}) s.push_back({Frame(true, 2, length), ++n});
  s.push_back({Frame(true, 1, 20, false), ++n});          // text, unmasked
  s.push_back({Frame(false, 2, 10), n});                  // first fragment
  s.push_back({Frame(true, 9, 4), n});                    // ping between fragments
  s.push_back({Frame(false, 0, 200), n});                 // middle fragment
  s.push_back({Frame(true, 10, 0), n});                   // empty pong
  s.push_back({Frame(true, 0, 0), ++n});                  // last fragment, empty
  s.push_back({Frame(true, 8, 2), n});                    // close
  s.push_back({Frame(true, 2, 3), ++n});
  return s;
}

TEST(WsMessageCounterTest, CountsEachWholeDataMessageOnce) {
  WsMessageCounter counter;
  for (const Piece& piece : Stream()) {
    counter.Feed(piece.bytes.data(), piece.bytes.size());
    EXPECT_EQ(counter.messages(), piece.messages_after);
  }
}

TEST(WsMessageCounterTest, AMessageCountsOnlyOnceItsLastByteIsIn) {
  const std::vector<Piece> stream = Stream();
  for (size_t i = 0; i < stream.size(); ++i) {
    WsMessageCounter counter;
    for (size_t j = 0; j < i; ++j) counter.Feed(stream[j].bytes.data(), stream[j].bytes.size());
    const uint64_t before = counter.messages();
    const std::string& bytes = stream[i].bytes;
    counter.Feed(bytes.data(), bytes.size() - 1);
    EXPECT_EQ(counter.messages(), before) << "piece " << i;
    counter.Feed(bytes.data() + bytes.size() - 1, 1);
    EXPECT_EQ(counter.messages(), stream[i].messages_after) << "piece " << i;
  }
}

TEST(WsMessageCounterTest, AnyCutOfTheStreamGivesTheSameCounts) {
  std::string all;
  std::vector<std::pair<size_t, uint64_t>> ends;  // offset after each piece, count there
  for (const Piece& piece : Stream()) {
    all += piece.bytes;
    ends.push_back({all.size(), piece.messages_after});
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    WsMessageCounter counter;
    size_t at = 0, next_end = 0;
    while (at < all.size()) {
      const size_t cut = std::min<size_t>(all.size() - at, 1 + rng() % (round < 20 ? 3 : 9000));
      counter.Feed(all.data() + at, cut);
      at += cut;
      while (next_end < ends.size() && ends[next_end].first <= at) ++next_end;
      // Whole pieces in so far decide the count (the next piece's message has not ended yet).
      const uint64_t expected = next_end == 0 ? 0 : ends[next_end - 1].second;
      ASSERT_EQ(counter.messages(), expected) << "round " << round << " at byte " << at;
    }
  }
}

TEST(WsMessageCounterTest, AHugeDeclaredLengthIsSkippedNotHeld) {
  WsMessageCounter counter;
  std::string header = "\x82\xff";  // 2^63 + ... as a 64-bit length, masked
  header += std::string("\x80\x00\x00\x00\x00\x00\x00\x00", 8);
  header += std::string("\x00\x00\x00\x00", 4);
  counter.Feed(header.data(), header.size());
  const std::string junk(1 << 20, '\x82');
  for (int i = 0; i < 4; ++i) counter.Feed(junk.data(), junk.size());
  EXPECT_EQ(counter.messages(), 0u);
}

}  // namespace
}  // namespace ew::net
