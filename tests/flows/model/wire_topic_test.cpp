// Wire topics: node ids made URI-safe exactly as the flows contract says.
#include "flows/model/wire_topic.hpp"

#include <gtest/gtest.h>

#include "common/wamp/uri.hpp"

namespace ew::flows {
namespace {

TEST(WireTopicTest, NodeRedIdsStayAsTheyAre) {
  EXPECT_EQ(UriSafeNodeId("6b61792143b3b0a3"), "6b61792143b3b0a3");
  EXPECT_EQ(UriSafeNodeId("a_b"), "a_b");
}

TEST(WireTopicTest, OtherBytesAreHexEscaped) {
  EXPECT_EQ(UriSafeNodeId("a30d20e6.ec6dc"), "a30d20e6_2eec6dc");
  EXPECT_EQ(UriSafeNodeId("A-b"), "_41_2db");
  EXPECT_EQ(UriSafeNodeId("\xc3\xa9"), "_c3_a9");
  EXPECT_EQ(UriSafeNodeId(""), "");
}

TEST(WireTopicTest, TopicsAreValidWampUris) {
  std::string topic = WireTopic("flw-0123456789abcdef", "a30d20e6.ec6dc-Node #2", 3);
  EXPECT_EQ(topic, "ew.flow.flw-0123456789abcdef.wire.a30d20e6_2eec6dc_2d_4eode_20_232.3");
  EXPECT_TRUE(wamp::IsValidUri(topic));
  EXPECT_EQ(DebugTopic("f1"), "ew.flow.f1.debug");
  EXPECT_EQ(StatusTopic("f1"), "ew.flow.f1.status");
}

TEST(WireTopicTest, FlowIdFromUri) {
  EXPECT_EQ(FlowIdFromUri("ew.flow.f1.wire.a.0"), "f1");
  EXPECT_EQ(FlowIdFromUri("ew.flow.f1"), "f1");
  EXPECT_FALSE(FlowIdFromUri("ew.flow."));
  EXPECT_FALSE(FlowIdFromUri("ew.board.b.flow.deploy"));
}

}  // namespace
}  // namespace ew::flows
