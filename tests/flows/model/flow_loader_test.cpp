// Loading and validating Node-RED 4.1 exports: real exports from Node-RED's repository load, and
// each kind of broken export is refused with an issue naming node id, type and tab.
#include "flows/model/flow_loader.hpp"

#include <gtest/gtest.h>

#include "tests/flows/flow_test_data.hpp"

namespace ew::flows {
namespace {

using nlohmann::json;
using testing::OnTab;
using testing::ReadData;

std::vector<FlowIssue> IssuesOf(const json& flow, const FlowLimits& limits = {}) {
  std::vector<FlowIssue> issues;
  auto loaded = LoadFlow(flow, limits, &issues);
  EXPECT_FALSE(loaded) << "the flow loaded";
  if (!loaded) {
    EXPECT_EQ(loaded.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(loaded.error().message.substr(0, Describe(issues.at(0)).size()), Describe(issues.at(0)));
  }
  return issues;
}

const json kTab = {{"id", "t1"}, {"type", "tab"}, {"label", "Flow 1"}};

TEST(FlowLoaderTest, LoadsNodeRedExamplesOnceOnATab) {
  for (const char* name : {"link-within-tab.json", "link-call.json", "change-env.json", "catch-error.json", "status.json",
                           "complete.json", "switch-ports.json", "trigger-watchdog.json", "udp-groups.json"}) {
    auto nodes = json::parse(ReadData(std::string("node-red/") + name));
    std::vector<FlowIssue> issues;
    auto flow = LoadFlow(OnTab(nodes), {}, &issues);
    ASSERT_TRUE(flow) << name << ": " << flow.error().message;
    EXPECT_EQ(flow->objects().size(), nodes.size() + 1) << name;
    EXPECT_TRUE(issues.empty());
  }
}

TEST(FlowLoaderTest, ExampleWithoutItsTabNamesEveryNodeOnTheMissingTab) {
  auto nodes = json::parse(ReadData("node-red/change-env.json"));
  auto issues = IssuesOf(nodes);
  ASSERT_EQ(issues.size(), nodes.size());
  EXPECT_EQ(issues[0].node, "e9143349.a64f7");
  EXPECT_EQ(issues[0].type, "comment");
  EXPECT_EQ(issues[0].tab, "a32e6d69.1b13b");
  EXPECT_EQ(Describe(issues[3]),
            "node \"e455c302.2f795\" (change) on tab \"a32e6d69.1b13b\": is on tab \"a32e6d69.1b13b\", which is not in "
            "the flow");
}

TEST(FlowLoaderTest, LinksAcrossTabsLoadAsExported) {
  auto flow = ParseFlow(ReadData("node-red/link-across-tabs.json"));
  ASSERT_TRUE(flow) << flow.error().message;
  const FlowObject* out = flow->Find("fcd2b35a.6a7c4");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->kind, ObjectKind::kNode);
  EXPECT_EQ(out->links, (std::vector<std::string>{"f5fead9.12cdf5", "cc961da1.25402"}));
  EXPECT_EQ(flow->Find("f51b8a1a.95b448")->kind, ObjectKind::kTab);
  EXPECT_EQ(flow->Find("f51b8a1a.95b448")->name, "TAB: 1st");
  // "f5fead9.12cdf5" is not in the export: the editor left a stale link, which Node-RED ignores
  // and so does Edgewire (the flattener drops it).
  EXPECT_EQ(flow->Find("f5fead9.12cdf5"), nullptr);
}

TEST(FlowLoaderTest, AcceptsTheAdminApiV2Shape) {
  json v2 = {{"rev", "abc"}, {"flows", json::array({kTab})}};
  EXPECT_TRUE(LoadFlow(v2));
}

TEST(FlowLoaderTest, ClassifiesObjects) {
  json flow = json::array({kTab,
                           {{"id", "sf"}, {"type", "subflow"}, {"name", "S"}, {"in", json::array()}, {"out", json::array()}},
                           {{"id", "i"}, {"type", "subflow:sf"}, {"z", "t1"}, {"wires", json::array()}},
                           {{"id", "g"}, {"type", "group"}, {"z", "t1"}, {"nodes", {"n"}}},
                           {{"id", "j"}, {"type", "junction"}, {"z", "t1"}, {"wires", {{"n"}}}},
                           {{"id", "n"}, {"type", "debug"}, {"z", "t1"}, {"g", "g"}, {"d", true}, {"wires", json::array()}},
                           {{"id", "c"}, {"type", "mqtt-broker"}, {"broker", "localhost"}}});
  auto loaded = LoadFlow(flow);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->Find("sf")->kind, ObjectKind::kSubflow);
  EXPECT_EQ(loaded->Find("i")->kind, ObjectKind::kSubflowInstance);
  EXPECT_EQ(loaded->Find("i")->subflow, "sf");
  EXPECT_EQ(loaded->Find("g")->kind, ObjectKind::kGroup);
  EXPECT_EQ(loaded->Find("j")->kind, ObjectKind::kJunction);
  EXPECT_EQ(loaded->Find("n")->kind, ObjectKind::kNode);
  EXPECT_TRUE(loaded->Find("n")->disabled);
  EXPECT_EQ(loaded->Find("c")->kind, ObjectKind::kConfig);
}

TEST(FlowLoaderTest, UnknownWireTarget) {
  auto issues = IssuesOf(json::array({kTab, {{"id", "a"}, {"type", "inject"}, {"z", "t1"}, {"wires", {{"zz"}}}}}));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(Describe(issues[0]), "node \"a\" (inject) on tab \"t1\": wires to unknown node \"zz\"");
}

TEST(FlowLoaderTest, DuplicateIds) {
  auto issues = IssuesOf(json::array({kTab, {{"id", "a"}, {"type", "inject"}, {"z", "t1"}, {"wires", json::array()}},
                                      {{"id", "a"}, {"type", "debug"}, {"z", "t1"}, {"wires", json::array()}}}));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].type, "debug");
  EXPECT_EQ(issues[0].message, "id is used by another object of the flow");
}

TEST(FlowLoaderTest, NodeWithoutTab) {
  auto issues = IssuesOf(json::array({{{"id", "a"}, {"type", "inject"}, {"wires", json::array()}}}));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(Describe(issues[0]), "node \"a\" (inject): has no tab (z)");
}

TEST(FlowLoaderTest, NonArrayWires) {
  auto issues = IssuesOf(json::array({kTab, {{"id", "a"}, {"type", "inject"}, {"z", "t1"}, {"wires", "b"}},
                                      {{"id", "b"}, {"type", "inject"}, {"z", "t1"}, {"wires", {"c"}}},
                                      {{"id", "c"}, {"type", "inject"}, {"z", "t1"}, {"wires", {{1}}}}}));
  ASSERT_EQ(issues.size(), 3u);
  EXPECT_EQ(issues[0].message, "`wires` is not an array");
  EXPECT_EQ(issues[1].message, "`wires[0]` is not an array of node ids");
  EXPECT_EQ(issues[2].message, "`wires[0]` holds something other than a node id");
}

TEST(FlowLoaderTest, WiresStayOnTheirTabAndReachOnlyNodes) {
  json t2 = {{"id", "t2"}, {"type", "tab"}};
  auto issues = IssuesOf(json::array({kTab, t2, {{"id", "a"}, {"type", "inject"}, {"z", "t1"}, {"wires", json::array({json::array({"b", "c"})})}},
                                      {{"id", "b"}, {"type", "debug"}, {"z", "t2"}, {"wires", json::array()}},
                                      {{"id", "c"}, {"type", "mqtt-broker"}}}));
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_EQ(issues[0].message, "wires to \"b\" on another tab");
  EXPECT_EQ(issues[1].message, "wires to \"c\", a mqtt-broker that takes no messages");
}

TEST(FlowLoaderTest, LinksGroupsAndSubflowsMustResolve) {
  auto issues = IssuesOf(json::array({kTab,
                                      {{"id", "lo"}, {"type", "link out"}, {"z", "t1"}, {"links", {"n"}}, {"wires", json::array()}},
                                      {{"id", "n"}, {"type", "debug"}, {"z", "t1"}, {"g", "nog"}, {"wires", json::array()}},
                                      {{"id", "i"}, {"type", "subflow:nosf"}, {"z", "t1"}, {"wires", json::array()}}}));
  ASSERT_EQ(issues.size(), 3u);
  EXPECT_EQ(Describe(issues[0]), "node \"lo\" (link out) on tab \"t1\": links to \"n\", a debug rather than a link node");
  EXPECT_EQ(issues[1].message, "is in group \"nog\", which is not in the flow");
  EXPECT_EQ(Describe(issues[2]), "node \"i\" (subflow:nosf) on tab \"t1\": uses unknown subflow \"nosf\"");
}

TEST(FlowLoaderTest, SubflowPortsNameTheirOwnNodes) {
  auto issues = IssuesOf(json::array({kTab,
                                      {{"id", "sf"}, {"type", "subflow"},
                                       {"in", {{{"wires", {{{"id", "x"}}}}}}},
                                       {"out", {{{"wires", {{{"id", "a"}, {"port", 0}}}}}}}},
                                      {{"id", "a"}, {"type", "change"}, {"z", "t1"}, {"wires", {json::array()}}}}));
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_EQ(issues[0].message, "input feeds \"x\", which is not a node of the subflow");
  EXPECT_EQ(issues[1].message, "output 0 is fed by \"a\", which is not a node of the subflow");
}

TEST(FlowLoaderTest, FuzzFound_SubflowPortWithoutWiresIsAnIssueNotACrash) {
  // flow_fuzz: a subflow `out` port object without "wires" read a missing key of a const value.
  auto issues = IssuesOf(json::array({kTab, {{"id", "sf"}, {"type", "subflow"}, {"out", {{{"x", 1}}}}}}));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(Describe(issues[0]), "node \"sf\" (subflow): `out` port has no `wires` array");
}

TEST(FlowLoaderTest, LongIdsAreClippedInIssues) {
  std::string id(100'000, 'a');
  id += "\xc3\xa9";
  auto issues = IssuesOf(json::array({kTab, {{"id", id}, {"type", "inject"}, {"z", "t1"}, {"wires", {{"zz"}}}}}));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].node, id);  // the issue keeps it; what is shown is clipped
  EXPECT_LT(Describe(issues[0]).size(), 300u);
  EXPECT_EQ(Clip(std::string(127, 'a') + "\xc3\xa9"), std::string(127, 'a') + "\u2026");  // not inside a character
}

json Subflow(const std::string& id) { return {{"id", id}, {"type", "subflow"}, {"in", json::array()}, {"out", json::array()}}; }
json Instance(const std::string& id, const std::string& sf, const std::string& z) {
  return {{"id", id}, {"type", "subflow:" + sf}, {"z", z}, {"wires", json::array()}};
}

TEST(FlowLoaderTest, SubflowRecursionIsRefused) {
  // A uses B, B uses A; and C uses itself (used by no tab).
  auto issues = IssuesOf(json::array({kTab, Subflow("A"), Subflow("B"), Subflow("C"), Instance("i0", "A", "t1"),
                                      Instance("ia", "B", "A"), Instance("ib", "A", "B"), Instance("ic", "C", "C")}));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(Describe(issues[0]), "node \"ib\" (subflow:A) on tab \"B\": subflow \"A\" contains itself");
  auto self = IssuesOf(json::array({kTab, Subflow("C"), Instance("ic", "C", "C")}));
  ASSERT_EQ(self.size(), 1u);
  EXPECT_EQ(self[0].message, "subflow \"C\" contains itself");
}

TEST(FlowLoaderTest, NodeRedsPackagedSubflowUsesItselfOnAMissingTab) {
  // Node-RED's own test module (test/resources/subflow/package/subflow.json) as an export array.
  auto module = json::parse(ReadData("node-red/subflow-module.json"));
  json flow = module["flow"];
  module.erase("flow");
  flow.push_back(module);
  auto issues = IssuesOf(flow);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].node, "876fc49e.f15268");
  EXPECT_EQ(issues[0].message, "is on tab \"d607ce33.4fa5a\", which is not in the flow");
}

TEST(FlowLoaderTest, LimitsHold) {
  FlowLimits limits;
  limits.max_objects = 2;
  EXPECT_EQ(IssuesOf(json::array({kTab, kTab, kTab}), limits)[0].message, "the flow has more than 2 objects");
  limits = {};
  limits.max_depth = 3;
  EXPECT_EQ(IssuesOf(json::array({{{"id", "t"}, {"type", "tab"}, {"x", {{"y", json::array()}}}}}), limits)[0].message,
            "the flow nests deeper than 3 levels");
  limits = {};
  limits.max_bytes = 16;
  std::vector<FlowIssue> issues;
  EXPECT_FALSE(ParseFlow(R"([{"id":"t1","type":"tab"}])", limits, &issues));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message.find("flow"), std::string::npos);
  // Eleven subflows, each holding two instances of the next: 2^10 copies of the last one's node.
  json bomb = json::array({kTab, Instance("top", "s0", "t1")});
  for (int i = 0; i < 11; ++i) {
    std::string id = "s" + std::to_string(i);
    bomb.push_back(Subflow(id));
    if (i < 10) {
      bomb.push_back(Instance(id + "a", "s" + std::to_string(i + 1), id));
      bomb.push_back(Instance(id + "b", "s" + std::to_string(i + 1), id));
    } else {
      bomb.push_back({{"id", "leaf"}, {"type", "debug"}, {"z", id}, {"wires", json::array()}});
    }
  }
  limits = {};
  limits.max_subflow_depth = 16;
  limits.max_flat_nodes = 1000;
  EXPECT_EQ(IssuesOf(bomb, limits)[0].message, "the flow expands to more than 1000 nodes once its subflows are expanded");
  limits.max_flat_nodes = 1024;
  EXPECT_TRUE(LoadFlow(bomb, limits));
  limits.max_subflow_depth = 5;
  EXPECT_EQ(IssuesOf(bomb, limits)[0].message, "subflows nest deeper than 5 levels");
}

TEST(FlowLoaderTest, NotAnArray) {
  EXPECT_EQ(IssuesOf(json::object())[0].message, "a flow is an array of nodes (a Node-RED export)");
  auto issues = IssuesOf(json::array({1, {{"id", "x"}}}));
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_EQ(issues[0].message, "entry 0 of the flow is not an object");
  EXPECT_EQ(Describe(issues[1]), "node \"x\" (): has no string type");
}

}  // namespace
}  // namespace ew::flows
