// Flattening: subflows expanded with derived ids and env as Node-RED resolves it, junctions and
// subflow ports turned into direct wires, disabled nodes and tabs dropped, placement per contract.
#include "flows/partition/flattener.hpp"

#include <map>

#include <gtest/gtest.h>

#include "flows/model/flow_loader.hpp"
#include "tests/flows/flow_test_data.hpp"

namespace ew::flows {
namespace {

using nlohmann::json;
using Wires = std::vector<std::vector<std::string>>;

std::map<std::string, FlatNode> ById(const FlatFlow& flat) {
  std::map<std::string, FlatNode> out;
  for (const auto& node : flat.nodes) out.emplace(node.node.id, node);
  return out;
}

FlatFlow FlattenOk(const json& export_json) {
  auto flow = LoadFlow(export_json);
  EXPECT_TRUE(flow) << flow.error().message;
  if (!flow) return {};
  auto flat = Flatten(*flow);
  EXPECT_TRUE(flat) << flat.error().message;
  return flat ? *flat : FlatFlow{};
}

const char* const kSf = "5f0000000000aa01";

class MixedBoardFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    flat_ = FlattenOk(json::parse(testing::ReadData("nodered41/mixed-board-flow.json")));
    nodes_ = ById(flat_);
  }
  const FlatNode& At(const std::string& id) {
    static const FlatNode kMissing{};
    auto it = nodes_.find(id);
    EXPECT_NE(it, nodes_.end()) << id << " is not in the flattened flow";
    return it == nodes_.end() ? kMissing : it->second;
  }
  FlatFlow flat_;
  std::map<std::string, FlatNode> nodes_;
};

TEST_F(MixedBoardFlowTest, KeepsExactlyTheRuntimeNodes) {
  std::vector<std::string> ids;
  for (const auto& [id, node] : nodes_) ids.push_back(id);
  // Dropped: comment, both disabled debugs, the disabled tab's nodes, junctions, subflow
  // definitions and instances, the group. The subflow's nodes appear once per instance.
  EXPECT_EQ(ids, (std::vector<std::string>{
                     "c000000000000001", "c000000000000002-5f0000000000aa11",
                     "c000000000000002-5f0000000000aa13", "c000000000000002-5f0000000000aa14-5f0000000000bb01",
                     "c000000000000004", "c000000000000005", "c000000000000006", "c0000000000000b1",
                     "c0000000000000c1", "c0000000000000c2"}));
  ASSERT_EQ(flat_.configs.size(), 1u);
  EXPECT_EQ(flat_.configs[0].id, "c0000000000000f1");
  EXPECT_EQ(flat_.configs[0].props["broker"], "127.0.0.1");
}

TEST_F(MixedBoardFlowTest, WiresGoThroughSubflowPortsAndJunctions) {
  // The instance's input feeds the subflow's range node, and (second output fed by the input)
  // the passthrough debug: Node-RED printed 0.5 there.
  EXPECT_EQ(At("c000000000000001").node.wires,
            (Wires{{"c000000000000002-5f0000000000aa11", "c000000000000004"}}));
  // range → junction → nested `tag` instance (→ its change node) and a disabled debug (gone).
  EXPECT_EQ(At("c000000000000002-5f0000000000aa11").node.wires,
            (Wires{{"c000000000000002-5f0000000000aa14-5f0000000000bb01"}}));
  // The nested subflow's output → `unit` change in the outer copy.
  EXPECT_EQ(At("c000000000000002-5f0000000000aa14-5f0000000000bb01").node.wires,
            (Wires{{"c000000000000002-5f0000000000aa13"}}));
  // The outer subflow's first output → junction on the tab → link out and rbe.
  EXPECT_EQ(At("c000000000000002-5f0000000000aa13").node.wires,
            (Wires{{"c000000000000005", "c000000000000006"}}));
  // rbe → mqtt out, and a disabled debug (gone).
  EXPECT_EQ(At("c000000000000006").node.wires, (Wires{{"c0000000000000b1"}}));
  // The link out sends on its one port to the link in it names on the other tab.
  EXPECT_EQ(At("c000000000000005").node.wires, (Wires{{"c0000000000000c1"}}));
  EXPECT_EQ(At("c000000000000005").node.props["links"], json::array({"c0000000000000c1"}));
}

TEST_F(MixedBoardFlowTest, EnvIsResolvedAsNodeRedDid) {
  const json& unit_env = At("c000000000000002-5f0000000000aa13").node.env;
  EXPECT_EQ(unit_env["UNIT"], "C");       // Node-RED set msg.unit = "C"
  EXPECT_EQ(unit_env["FACTOR"], 10);      // the instance's num overrides the definition's 2
  EXPECT_EQ(unit_env["LIMITS"]["max"], 100);
  EXPECT_EQ(unit_env["ROOM"], "greenhouse");  // type env: the tab's SITE
  EXPECT_EQ(unit_env["EDGEWIRE_BOARD"], "brd-a");
  EXPECT_FALSE(unit_env.contains("TAG"));
  // The nested instance's TAG=scaled overrides its definition's "raw": Node-RED's topic was "scaled".
  EXPECT_EQ(At("c000000000000002-5f0000000000aa14-5f0000000000bb01").node.env["TAG"], "scaled");
  EXPECT_EQ(At("c000000000000002-5f0000000000aa14-5f0000000000bb01").node.env["FACTOR"], 10);
  EXPECT_TRUE(At("c0000000000000c2").node.env.empty());
}

TEST_F(MixedBoardFlowTest, PlacementFollowsNodeGroupTab) {
  EXPECT_EQ(At("c000000000000001").board, "brd-a");                   // tab env
  EXPECT_EQ(At("c000000000000002-5f0000000000aa11").board, "brd-a");  // copy: the instance's tab
  EXPECT_EQ(At("c0000000000000b1").board, "brd-b");                   // group env
  EXPECT_EQ(At("c0000000000000c1").board, "");                        // the cloud
  EXPECT_EQ(At("c000000000000002-5f0000000000aa11").node.tab, "a1b2c3d4e5f60001");
}

TEST_F(MixedBoardFlowTest, PropsKeepTheExportMinusLiftedFields) {
  const Node& rbe = At("c000000000000006").node;
  EXPECT_EQ(rbe.type, "rbe");
  EXPECT_EQ(rbe.props["func"], "rbe");
  for (const char* lifted : {"id", "type", "z", "x", "y", "wires", "name"}) EXPECT_FALSE(rbe.props.contains(lifted)) << lifted;
  EXPECT_EQ(At("c0000000000000c2").node.name, "cloud debug");
}

json Tab(const std::string& id, json extra = json::object()) {
  json tab = {{"id", id}, {"type", "tab"}, {"label", id}};
  tab.update(extra);
  return tab;
}
json N(const std::string& id, const std::string& type, const std::string& z, json wires, json extra = json::object()) {
  json node = {{"id", id}, {"type", type}, {"z", z}, {"wires", std::move(wires)}};
  node.update(extra);
  return node;
}

TEST(FlattenerTest, JunctionLoopsLeadNowhere) {
  auto flat = FlattenOk(json::array({Tab("t"), N("a", "inject", "t", {{"j1"}}), N("j1", "junction", "t", json::array({json::array({"j2", "d"})})),
                                     N("j2", "junction", "t", {{"j1"}}), N("d", "debug", "t", json::array())}));
  auto nodes = ById(flat);
  EXPECT_EQ(nodes.at("a").node.wires, (Wires{{"d"}}));
}

TEST(FlattenerTest, DisabledInstanceAndItsWiresAreDropped) {
  json sf = {{"id", "sf"}, {"type", "subflow"}, {"in", {{{"wires", {{{"id", "x"}}}}}}}, {"out", json::array()}};
  auto flat = FlattenOk(json::array({Tab("t"), sf, N("x", "debug", "sf", json::array()),
                                     N("a", "inject", "t", json::array({json::array({"i1", "i2"})})),
                                     N("i1", "subflow:sf", "t", json::array(), {{"d", true}}),
                                     N("i2", "subflow:sf", "t", json::array())}));
  auto nodes = ById(flat);
  EXPECT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes.at("a").node.wires, (Wires{{"i2-x"}}));
}

TEST(FlattenerTest, BoardPropertyWinsAndGroupsNest) {
  json outer = {{"id", "g1"}, {"type", "group"}, {"z", "t"}, {"env", {{{"name", "EDGEWIRE_BOARD"}, {"type", "str"}, {"value", "brd-outer"}}}}};
  json inner = {{"id", "g2"}, {"type", "group"}, {"z", "t"}, {"g", "g1"}, {"env", json::array()}};
  auto flat = FlattenOk(json::array({Tab("t", {{"board", "brd-tab"}}), outer, inner,
                                     N("a", "inject", "t", json::array(), {{"g", "g2"}}),
                                     N("b", "inject", "t", json::array(), {{"g", "g2"}, {"board", "brd-own"}}),
                                     N("c", "inject", "t", json::array()),
                                     N("e", "inject", "t", json::array(), {{"board", ""}})}));
  auto nodes = ById(flat);
  EXPECT_EQ(nodes.at("a").board, "brd-outer");
  EXPECT_EQ(nodes.at("b").board, "brd-own");
  EXPECT_EQ(nodes.at("c").board, "brd-tab");
  EXPECT_EQ(nodes.at("e").board, "brd-tab");  // "" means not set
}

TEST(FlattenerTest, SubflowCopiesKeepTheirOwnConfigAndLinks) {
  json sf = {{"id", "sf"}, {"type", "subflow"}, {"in", {{{"wires", {{{"id", "lo"}}}}}}}, {"out", json::array()}};
  auto flat = FlattenOk(json::array(
      {Tab("t"), sf, {{"id", "cfg"}, {"type", "mqtt-broker"}, {"z", "sf"}, {"broker", "b"}},
       N("lo", "link out", "sf", json::array(), {{"links", {"li", "gone"}}, {"mode", "link"}}),
       N("li", "link in", "sf", {{"m"}}, {{"links", {"lo"}}}), N("m", "mqtt out", "sf", json::array(), {{"broker", "cfg"}}),
       N("a", "inject", "t", {{"i"}}), N("i", "subflow:sf", "t", json::array())}));
  auto nodes = ById(flat);
  EXPECT_EQ(nodes.at("a").node.wires, (Wires{{"i-lo"}}));
  EXPECT_EQ(nodes.at("i-lo").node.wires, (Wires{{"i-li"}}));
  EXPECT_EQ(nodes.at("i-lo").node.props["links"], json::array({"i-li"}));
  EXPECT_EQ(nodes.at("i-li").node.props["links"], json::array({"i-lo"}));
  EXPECT_EQ(nodes.at("i-m").node.props["broker"], "i-cfg");
  ASSERT_EQ(flat.configs.size(), 1u);
  EXPECT_EQ(flat.configs[0].id, "i-cfg");
}

TEST(FlattenerTest, BadEnvIsReportedOnTheNode) {
  json sf = {{"id", "sf"}, {"type", "subflow"}, {"in", json::array()}, {"out", json::array()},
             {"env", {{{"name", "X"}, {"type", "jsonata"}, {"value", "1+1"}}}}};
  auto flow = LoadFlow(json::array({Tab("t"), sf, N("i", "subflow:sf", "t", json::array())}));
  ASSERT_TRUE(flow);
  std::vector<FlowIssue> issues;
  auto flat = Flatten(*flow, &issues);
  ASSERT_FALSE(flat);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(Describe(issues[0]),
            "node \"i\" (subflow:sf) on tab \"t\": subflow \"sf\": env \"X\" (jsonata): Edgewire does not evaluate this env type");
}

TEST(FlattenerTest, NodeRedExamplesFlatten) {
  auto flat = FlattenOk(testing::OnTab(json::parse(testing::ReadData("node-red/link-call.json"))));
  auto nodes = ById(flat);
  for (const auto& [id, node] : nodes) EXPECT_NE(node.node.type, "comment");
  EXPECT_EQ(nodes.at("cd31efb4d2c6967e").node.props["links"], json::array({"dbc46892c8d14c37"}));
}

}  // namespace
}  // namespace ew::flows
