// WireBuffer: wire messages kept for receiving boards that are not subscribed, handed back in
// order, bounded per (wire, receiver) with the oldest dropped and counted.
#include "cloud-conductor/router/wire_buffer.hpp"

#include <gtest/gtest.h>

namespace ew::router {
namespace {

using nlohmann::json;

wamp::Payload Msg(int seq) { return wamp::Payload{json::array({{{"payload", seq}}}), {{"seq", seq}, {"from", "brd-a"}}}; }

std::vector<int> Seqs(const std::vector<wamp::Payload>& held) {
  std::vector<int> out;
  for (const auto& p : held) out.push_back(p.kwargs["seq"].get<int>());
  return out;
}

TEST(WireBuffer, KeepsForAbsentReceiversOnlyAndHandsBackInOrder) {
  WireBuffer buffer;
  buffer.SetWires("flw-1", {{"ew.flow.flw-1.wire.a.0", {"brd-b", "brd-c"}}});
  EXPECT_TRUE(buffer.Watches("ew.flow.flw-1.wire.a.0"));
  EXPECT_FALSE(buffer.Watches("ew.flow.flw-1.wire.x.0"));
  auto only_c_here = [](const std::string& board) { return board == "brd-c"; };
  for (int seq = 1; seq <= 3; ++seq) buffer.OnPublish("ew.flow.flw-1.wire.a.0", Msg(seq), only_c_here);
  buffer.OnPublish("ew.flow.flw-1.wire.x.0", Msg(9), only_c_here);  // not a watched wire
  auto stats = buffer.Stats("flw-1");
  EXPECT_EQ(stats["brd-b"].buffered, 3u);
  EXPECT_EQ(stats["brd-c"].buffered, 0u);
  EXPECT_TRUE(buffer.Take("brd-c", "ew.flow.flw-1.wire.a.0").empty());
  EXPECT_EQ(Seqs(buffer.Take("brd-b", "ew.flow.flw-1.wire.a.0")), (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(buffer.Take("brd-b", "ew.flow.flw-1.wire.a.0").empty());  // handed back once
  EXPECT_EQ(buffer.Stats("flw-1")["brd-b"].buffered, 0u);
}

TEST(WireBuffer, BoundedPerWireDroppingTheOldest) {
  WireBufferOptions options;
  options.max_messages = 3;
  WireBuffer buffer(options);
  buffer.SetWires("flw-1", {{"t", {"brd-b"}}});
  auto nobody = [](const std::string&) { return false; };
  for (int seq = 1; seq <= 5; ++seq) buffer.OnPublish("t", Msg(seq), nobody);
  EXPECT_EQ(buffer.Stats("flw-1")["brd-b"].dropped, 2u);
  EXPECT_EQ(buffer.Stats("flw-1")["brd-b"].buffered, 3u);
  EXPECT_EQ(Seqs(buffer.Take("brd-b", "t")), (std::vector<int>{3, 4, 5}));

  // A byte bound too: a message is 39 bytes of JSON, room for two.
  WireBufferOptions small;
  small.max_bytes = 100;
  WireBuffer bytes(small);
  bytes.SetWires("flw-2", {{"t", {"brd-b"}}});
  for (int seq = 1; seq <= 4; ++seq) bytes.OnPublish("t", Msg(seq), nobody);
  EXPECT_EQ(Seqs(bytes.Take("brd-b", "t")), (std::vector<int>{3, 4}));
  EXPECT_EQ(bytes.Stats("flw-2")["brd-b"].dropped, 2u);
}

TEST(WireBuffer, NewWiresOrAClearedFlowForgetWhatWasKept) {
  WireBuffer buffer;
  buffer.SetWires("flw-1", {{"t1", {"brd-b"}}});
  auto nobody = [](const std::string&) { return false; };
  buffer.OnPublish("t1", Msg(1), nobody);
  buffer.SetWires("flw-1", {{"t2", {"brd-b"}}});  // version 2: its wires restart
  EXPECT_FALSE(buffer.Watches("t1"));
  EXPECT_TRUE(buffer.Take("brd-b", "t1").empty());
  buffer.OnPublish("t2", Msg(1), nobody);
  buffer.ClearFlow("flw-1");
  EXPECT_FALSE(buffer.Watches("t2"));
  EXPECT_TRUE(buffer.Stats("flw-1").empty());
}

}  // namespace
}  // namespace ew::router
