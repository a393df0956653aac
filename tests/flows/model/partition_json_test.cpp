// The partition's JSON form: a round trip keeps every field, and bad documents are refused with
// an error naming the field, before a runtime could meet a dangling wire.
#include "flows/model/partition_json.hpp"

#include <gtest/gtest.h>

namespace ew::flows {
namespace {

Partition Sample() {
  Partition p;
  p.flow = "flw-0123456789abcdef";
  p.version = 3;
  p.board = "brd-a";
  Node in;
  in.id = "n1";
  in.type = "edgewire-gpio-in";
  in.tab = "t1";
  in.name = "button";
  in.wires = {{"n2"}, {}};
  in.props = {{"line", 17}, {"edge", "both"}};
  in.env = {{"ROOM", "kitchen"}};
  Node out;
  out.id = "n2";
  out.type = "debug";
  out.tab = "t1";
  out.wires = {};
  p.nodes = {in, out};
  p.configs = {ConfigNode{"c1", "mqtt-broker", {{"broker", "localhost"}}}};
  p.outbound = {OutboundWire{"n1", 1, "ew.flow.flw-0123456789abcdef.wire.n1.1"}};
  p.inbound = {InboundWire{"ew.flow.flw-0123456789abcdef.wire.x.0", {"n2"}}};
  return p;
}

TEST(PartitionJsonTest, RoundTripKeepsEveryField) {
  auto text = ToJson(Sample()).dump();
  auto back = ParsePartition(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->flow, "flw-0123456789abcdef");
  EXPECT_EQ(back->version, 3u);
  EXPECT_EQ(back->board, "brd-a");
  ASSERT_EQ(back->nodes.size(), 2u);
  EXPECT_EQ(back->nodes[0].name, "button");
  EXPECT_EQ(back->nodes[0].tab, "t1");
  ASSERT_EQ(back->nodes[0].wires.size(), 2u);
  EXPECT_EQ(back->nodes[0].wires[0], std::vector<std::string>{"n2"});
  EXPECT_TRUE(back->nodes[0].wires[1].empty());
  EXPECT_EQ(back->nodes[0].props["line"], 17);
  EXPECT_EQ(back->nodes[0].env["ROOM"], "kitchen");
  ASSERT_EQ(back->configs.size(), 1u);
  EXPECT_EQ(back->configs[0].props["broker"], "localhost");
  ASSERT_EQ(back->outbound.size(), 1u);
  EXPECT_EQ(back->outbound[0].port, 1u);
  ASSERT_EQ(back->inbound.size(), 1u);
  EXPECT_EQ(back->inbound[0].targets, std::vector<std::string>{"n2"});
  // Same document again: the mapping is stable.
  EXPECT_EQ(ToJson(*back).dump(), text);
}

TEST(PartitionJsonTest, ShapeMatchesTheContract) {
  auto j = ToJson(Sample());
  for (const char* key : {"flow", "version", "board", "nodes", "configs", "outbound", "inbound"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  for (const char* key : {"id", "type", "tab", "name", "wires", "props", "env"}) {
    EXPECT_TRUE(j["nodes"][0].contains(key)) << key;
  }
  EXPECT_TRUE(j["nodes"][0]["wires"][1].is_array());
  EXPECT_EQ(j["outbound"][0]["topic"], "ew.flow.flw-0123456789abcdef.wire.n1.1");
}

TEST(PartitionJsonTest, OptionalFieldsMayBeLeftOut) {
  auto p = ParsePartition(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":"inject"}]})");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->board, "");
  EXPECT_TRUE(p->nodes[0].wires.empty());
  EXPECT_TRUE(p->nodes[0].props.is_object());
  EXPECT_TRUE(p->configs.empty());
}

std::string ErrorOf(std::string_view text, const PartitionLimits& limits = {}) {
  auto p = ParsePartition(text, limits);
  if (p) return "(parsed)";
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  return p.error().message;
}

TEST(PartitionJsonTest, BadFieldsAreNamed) {
  EXPECT_EQ(ErrorOf("[]"), "partition: document: not an object");
  EXPECT_EQ(ErrorOf(R"({"version":1})"), "partition: flow: missing");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":-1})"), "partition: version: not an unsigned integer");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":"x","wires":[["b",7]]}]})"),
            "partition: nodes[0].wires[0][1]: not a string");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":"x","wires":"b"}]})"),
            "partition: nodes[0].wires: not an array");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":""}]})"), "partition: nodes[0].type: empty");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":"x","props":[]}]})"),
            "partition: nodes[0].props: not an object");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"outbound":[{"node":"a","port":4294967296,"topic":"t"}]})"),
            "partition: outbound[0].port: not an unsigned 32-bit integer");
  EXPECT_NE(ErrorOf("{").find("partition: "), std::string::npos);
}

TEST(PartitionJsonTest, DanglingReferencesAreRefused) {
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":"x","wires":[["zz"]]}]})"),
            "partition: nodes[0].wires[0]: node \"a\" wires to \"zz\", which is not in the partition");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":"x"},{"id":"a","type":"y"}]})"),
            "partition: nodes[1].id: node id \"a\" repeats");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":"x","wires":[[]]}],
                       "outbound":[{"node":"a","port":1,"topic":"t"}]})"),
            "partition: outbound[0].port: node \"a\" has 1 output(s), no port 1");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"outbound":[{"node":"q","port":0,"topic":"t"}]})"),
            "partition: outbound[0].node: \"q\" is not in the partition");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"inbound":[{"topic":"t","targets":["q"]}]})"),
            "partition: inbound[0].targets: \"q\" is not in the partition");
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"configs":[{"id":"c","type":"m"},{"id":"c","type":"m"}]})"),
            "partition: configs[1].id: config id \"c\" repeats");
}

TEST(PartitionJsonTest, LimitsHold) {
  PartitionLimits limits;
  limits.max_nodes = 2;
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":"x"},{"id":"b","type":"x"},{"id":"c","type":"x"}]})",
                    limits),
            "partition: nodes: more than 2 entries");
  limits = {};
  limits.max_bytes = 10;
  EXPECT_NE(ErrorOf(R"({"flow":"f","version":1})", limits).find("partition"), std::string::npos);
  limits = {};
  limits.max_depth = 4;
  EXPECT_EQ(ErrorOf(R"({"flow":"f","version":1,"nodes":[{"id":"a","type":"x","props":{"p":{"q":1}}}]})", limits),
            "partition: nesting deeper than 4 levels");
  // A value built in memory (not parsed) is held to the same depth.
  nlohmann::json deep = ToJson(Sample());
  deep["nodes"][0]["props"]["p"] = nlohmann::json::parse(R"([[[[[[1]]]]]])");
  EXPECT_EQ(PartitionFromJson(deep, limits).error().message, "partition: document: nesting deeper than 4 levels");
}

}  // namespace
}  // namespace ew::flows
