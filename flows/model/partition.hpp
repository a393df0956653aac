// What the partitioner hands to a flow runtime: the nodes one placement (a board or the cloud)
// runs, already flattened (no subflow instances, no junctions, no disabled nodes or tabs), with
// the wires that leave or enter the partition turned into WAMP topics. This is the one contract
// between flows/partition (which builds it from Node-RED flow JSON) and flows/runtime (which runs
// it on a board or in the conductor); both sides and their tests use only this header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ew::flows {

// A flow node after flattening. Node-RED's own fields are lifted out; everything else the editor
// exported for the node (rules, property, pin, ...) stays in `props`, as exported.
struct Node {
  std::string id;    // unique within the flow after flattening (subflow copies get derived ids)
  std::string type;  // Node-RED type, e.g. "change", "edgewire-gpio-in"
  std::string tab;   // the tab (z) the node runs on; for subflow copies, the instance's tab
  std::string name;  // "" when unnamed
  // wires[port] = ids of the nodes (in this partition) that output `port` feeds.
  std::vector<std::vector<std::string>> wires;
  nlohmann::json props = nlohmann::json::object();
  // Subflow env and tab env, resolved: name -> value (already typed: str/num/bool/json).
  nlohmann::json env = nlohmann::json::object();
};

// A config node (mqtt-broker, edgewire-conductor, ...) that nodes of this partition reference by
// id from their props. Credentials are never part of a flow export.
struct ConfigNode {
  std::string id;
  std::string type;
  nlohmann::json props = nlohmann::json::object();
};

// Output `port` of node `node` (in this partition) also feeds nodes in other partitions: each
// message it sends there is published on `topic` with the wire's next sequence number.
struct OutboundWire {
  std::string node;
  std::uint32_t port = 0;
  std::string topic;  // "ew.flow.<flow>.wire.<node>.<port>"
};

// Messages published on `topic` by another partition are delivered to `targets` (node ids in
// this partition), in sequence order.
struct InboundWire {
  std::string topic;
  std::vector<std::string> targets;
};

struct Partition {
  std::string flow;      // flow id
  std::uint64_t version = 0;
  std::string board;     // board id; "" = the cloud
  std::vector<Node> nodes;
  std::vector<ConfigNode> configs;
  std::vector<OutboundWire> outbound;
  std::vector<InboundWire> inbound;
};

}  // namespace ew::flows
