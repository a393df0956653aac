// Partitioning: nodes grouped by placement, cross wires turned into topics on both sides,
// config nodes copied where they are used, what cannot be split refused by node.
#include "flows/partition/partitioner.hpp"

#include <gtest/gtest.h>

#include "flows/model/flow_loader.hpp"
#include "flows/model/partition_json.hpp"
#include "tests/flows/flow_test_data.hpp"

namespace ew::flows {
namespace {

using nlohmann::json;

const char* const kFlow = "flw-0123456789abcdef";

std::vector<Partition> PartitionOk(const json& export_json) {
  auto flow = LoadFlow(export_json);
  EXPECT_TRUE(flow) << flow.error().message;
  if (!flow) return {};
  auto partitions = PartitionFlow(*flow, kFlow, 7);
  EXPECT_TRUE(partitions) << partitions.error().message;
  return partitions ? *partitions : std::vector<Partition>{};
}

const Node* FindNode(const Partition& p, const std::string& id) {
  for (const auto& node : p.nodes) {
    if (node.id == id) return &node;
  }
  return nullptr;
}

TEST(PartitionerTest, MixedBoardFlowSplitsIntoCloudAndTwoBoards) {
  auto parts = PartitionOk(json::parse(testing::ReadData("nodered41/mixed-board-flow.json")));
  ASSERT_EQ(parts.size(), 3u);
  const Partition& cloud = parts[0];
  const Partition& a = parts[1];
  const Partition& b = parts[2];
  EXPECT_EQ(cloud.board, "");
  EXPECT_EQ(a.board, "brd-a");
  EXPECT_EQ(b.board, "brd-b");
  for (const auto& p : parts) {
    EXPECT_EQ(p.flow, kFlow);
    EXPECT_EQ(p.version, 7u);
    // Every partition passes the runtime's own reading of the contract.
    auto back = ParsePartition(ToJson(p).dump());
    EXPECT_TRUE(back) << p.board << ": " << back.error().message;
  }
  EXPECT_EQ(cloud.nodes.size(), 2u);
  EXPECT_EQ(a.nodes.size(), 7u);
  EXPECT_EQ(b.nodes.size(), 1u);

  const std::string link_topic = "ew.flow.flw-0123456789abcdef.wire.c000000000000005.0";
  const std::string rbe_topic = "ew.flow.flw-0123456789abcdef.wire.c000000000000006.0";
  ASSERT_EQ(a.outbound.size(), 2u);
  EXPECT_EQ(a.outbound[0].node, "c000000000000005");
  EXPECT_EQ(a.outbound[0].port, 0u);
  EXPECT_EQ(a.outbound[0].topic, link_topic);
  EXPECT_EQ(a.outbound[1].topic, rbe_topic);
  EXPECT_TRUE(a.inbound.empty());
  // Local wires keep only local targets; the ports stay.
  EXPECT_EQ(FindNode(a, "c000000000000006")->wires, (std::vector<std::vector<std::string>>{{}}));
  EXPECT_EQ(FindNode(a, "c000000000000005")->wires, (std::vector<std::vector<std::string>>{{}}));
  EXPECT_EQ(FindNode(a, "c000000000000005")->props["links"], json::array());
  ASSERT_EQ(cloud.inbound.size(), 1u);
  EXPECT_EQ(cloud.inbound[0].topic, link_topic);
  EXPECT_EQ(cloud.inbound[0].targets, std::vector<std::string>{"c0000000000000c1"});
  ASSERT_EQ(b.inbound.size(), 1u);
  EXPECT_EQ(b.inbound[0].topic, rbe_topic);
  EXPECT_EQ(b.inbound[0].targets, std::vector<std::string>{"c0000000000000b1"});
  // The broker goes only where the mqtt node runs.
  ASSERT_EQ(b.configs.size(), 1u);
  EXPECT_EQ(b.configs[0].id, "c0000000000000f1");
  EXPECT_TRUE(a.configs.empty());
  EXPECT_TRUE(cloud.configs.empty());
  // The mixed flow only uses board node types.
  EXPECT_TRUE(UnsupportedNodes(parts, true).empty());
}

json Tab(const std::string& id, const std::string& board) {
  return {{"id", id}, {"type", "tab"}, {"label", id}, {"board", board}};
}
json N(const std::string& id, const std::string& type, const std::string& z, json wires, json extra = json::object()) {
  json node = {{"id", id}, {"type", type}, {"z", z}, {"wires", std::move(wires)}};
  node.update(extra);
  return node;
}

TEST(PartitionerTest, OneTopicPerPortFansOutToEveryPartition) {
  auto parts = PartitionOk(json::array(
      {Tab("t", ""), N("s", "inject", "t", json::array({json::array({"x", "y", "z"}), json::array({"x"})}), {{"board", "b1"}}),
       N("x", "debug", "t", json::array(), {{"board", "b2"}}), N("y", "debug", "t", json::array(), {{"board", "b2"}}),
       N("z", "debug", "t", json::array(), {{"board", "b3"}})}));
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].board, "b1");
  ASSERT_EQ(parts[0].outbound.size(), 2u);
  EXPECT_EQ(parts[0].outbound[1].topic, "ew.flow.flw-0123456789abcdef.wire.s.1");
  ASSERT_EQ(parts[1].inbound.size(), 2u);
  EXPECT_EQ(parts[1].inbound[0].targets, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(parts[1].inbound[1].targets, (std::vector<std::string>{"x"}));
  ASSERT_EQ(parts[2].inbound.size(), 1u);
  EXPECT_EQ(parts[2].inbound[0].targets, (std::vector<std::string>{"z"}));
}

TEST(PartitionerTest, LinkCallAcrossPartitionsIsRefused) {
  auto flow = LoadFlow(json::array({Tab("t", "b1"), N("c", "link call", "t", json::array({json::array()}), {{"links", {"li"}}}),
                                    N("li", "link in", "t", json::array(), {{"board", "b2"}})}));
  ASSERT_TRUE(flow);
  std::vector<FlowIssue> issues;
  auto parts = PartitionFlow(*flow, kFlow, 1, &issues);
  ASSERT_FALSE(parts);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].node, "c");
  EXPECT_EQ(issues[0].tab, "t");
  EXPECT_NE(issues[0].message.find("board \"b2\""), std::string::npos);
}

TEST(PartitionerTest, TopicCollisionIsRefused) {
  // "a-" and "a_2d" are both written "a_2d" in a topic.
  auto flow = LoadFlow(json::array({Tab("t", "b1"), N("a-", "inject", "t", json::array({json::array({"d"})})),
                                    N("a_2d", "inject", "t", json::array({json::array({"d"})})),
                                    N("d", "debug", "t", json::array(), {{"board", "b2"}})}));
  ASSERT_TRUE(flow);
  std::vector<FlowIssue> issues;
  ASSERT_FALSE(PartitionFlow(*flow, kFlow, 1, &issues));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].node, "a_2d");
}

TEST(PartitionerTest, UnsupportedNodesAreNamedPerBoard) {
  // Node-RED's catch example: its function node now runs on boards too (Duktape, flows/js).
  auto parts = PartitionOk(testing::OnTab(json::parse(testing::ReadData("node-red/catch-error.json"))));
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_TRUE(UnsupportedNodes(parts, true).empty());
  for (auto& node : parts[0].nodes)
    if (node.type == "function") node.type = "exec";
  EXPECT_TRUE(UnsupportedNodes(parts, false).empty());  // the cloud runs in Node-RED ("external")
  auto issues = UnsupportedNodes(parts, true);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(Describe(issues[0]),
            "node \"7bab9134.35ad\" (exec) on tab \"f7ca1653.2d17b8\": type \"exec\" is not implemented by "
            "the conductor's flow runtime");
  parts[0].board = "brd-a";
  EXPECT_EQ(UnsupportedNodes(parts, false).at(0).message, "type \"exec\" is not implemented by board \"brd-a\"");
}

TEST(PartitionerTest, EmptyFlowHasNoPartitions) {
  EXPECT_TRUE(PartitionOk(json::array({Tab("t", "b1")})).empty());
}

}  // namespace
}  // namespace ew::flows
