// The JSON form of a Partition (flows/model/partition.hpp): what `ew.board.<board>.flow.deploy`
// carries as kwargs, what the conductor stores per board and what `ew.conductor.flow.sync`
// returns. Both sides convert only through these functions, so the shape is defined once:
//   {"flow","version","board",
//    "nodes":[{"id","type","tab","name","wires":[[..]],"props":{},"env":{}}],
//    "configs":[{"id","type","props"}],
//    "outbound":[{"node","port","topic"}], "inbound":[{"topic","targets":[..]}]}
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "flows/model/partition.hpp"

namespace ew::flows {

struct PartitionLimits {
  // Largest partition document accepted, in bytes (text form only). A Node-RED flow of a few
  // thousand nodes is well under 4 MiB; the WAMP frame limit applies before this anyway.
  size_t max_bytes = 4 << 20;
  // Deepest nesting: partition → nodes → node → props → (rules → rule → value ...). Node-RED's
  // own node properties stay below 10 levels; a `json` typed property may go deeper.
  size_t max_depth = 32;
  // Most nodes, config nodes, outbound and inbound wires each.
  size_t max_nodes = 10'000;
  // Most output ports of one node and targets of one port (switch rules, a fan-out).
  size_t max_ports = 1'000;
  size_t max_targets = 1'000;
};

// Always succeeds; fields are written in the shape above (empty name and tab included).
nlohmann::json ToJson(const Partition& partition);

// From a value already read by the guarded reader (WAMP kwargs, a stored row). InvalidArgument
// naming the field ("partition: nodes[3].wires[0][1]: not a string") when a field is missing or of
// the wrong type, a limit is passed, node ids repeat, or a wire, outbound or inbound entry names a
// node that is not in the partition or a port the node does not have. `name`, `tab`, `props`,
// `env`, `configs`, `outbound` and `inbound` may be left out (empty).
Result<Partition> PartitionFromJson(const nlohmann::json& value, const PartitionLimits& limits = {});

// Text → Partition through the guarded reader (size and depth checked while parsing).
Result<Partition> ParsePartition(std::string_view text, const PartitionLimits& limits = {});

}  // namespace ew::flows
