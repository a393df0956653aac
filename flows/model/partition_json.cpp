// Partition <-> JSON. Reading checks every field's type and every cross-reference inside the
// partition, so a runtime handed a parsed Partition never meets a dangling wire.
#include "flows/model/partition_json.hpp"

#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "common/json/guarded_json.hpp"

namespace ew::flows {

namespace {

using Json = nlohmann::json;

tl::unexpected<Error> Bad(std::string_view where, std::string_view why) {
  return InvalidArgument(fmt::format("partition: {}: {}", where, why));
}

// "nodes[2]" + "id" → "nodes[2].id"; at the top level just "id".
std::string Field(const std::string& where, const char* key) {
  return where.empty() ? std::string(key) : where + "." + key;
}

Result<std::string> RequiredString(const Json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) return Bad(Field(where, key), "missing");
  if (!it->is_string()) return Bad(Field(where, key), "not a string");
  return it->get<std::string>();
}

Result<std::string> NonEmptyString(const Json& object, const char* key, const std::string& where) {
  EW_TRY(auto text, RequiredString(object, key, where));
  if (text.empty()) return Bad(Field(where, key), "empty");
  return text;
}

Result<std::string> OptionalString(const Json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return Bad(Field(where, key), "not a string");
  return it->get<std::string>();
}

Result<Json> OptionalObject(const Json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Json::object();
  if (!it->is_object()) return Bad(Field(where, key), "not an object");
  return *it;
}

// The array under `key` (empty when absent), refused past `max` entries.
Result<const Json*> OptionalArray(const Json& object, const char* key, const std::string& where, size_t max) {
  static const Json kEmpty = Json::array();
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return &kEmpty;
  if (!it->is_array()) return Bad(Field(where, key), "not an array");
  if (it->size() > max) return Bad(Field(where, key), fmt::format("more than {} entries", max));
  return &*it;
}

Result<std::vector<std::string>> StringList(const Json& list, const std::string& where, size_t max) {
  if (!list.is_array()) return Bad(where, "not an array");
  if (list.size() > max) return Bad(where, fmt::format("more than {} entries", max));
  std::vector<std::string> out;
  out.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) return Bad(fmt::format("{}[{}]", where, i), "not a string");
    out.push_back(list[i].get<std::string>());
  }
  return out;
}

Result<Node> NodeFromJson(const Json& value, const std::string& where, const PartitionLimits& limits) {
  if (!value.is_object()) return Bad(where, "not an object");
  Node node;
  EW_TRY(node.id, NonEmptyString(value, "id", where));
  EW_TRY(node.type, NonEmptyString(value, "type", where));
  EW_TRY(node.tab, OptionalString(value, "tab", where));
  EW_TRY(node.name, OptionalString(value, "name", where));
  EW_TRY(const Json* wires, OptionalArray(value, "wires", where, limits.max_ports));
  for (size_t port = 0; port < wires->size(); ++port) {
    EW_TRY(auto targets, StringList((*wires)[port], fmt::format("{}.wires[{}]", where, port), limits.max_targets));
    node.wires.push_back(std::move(targets));
  }
  EW_TRY(node.props, OptionalObject(value, "props", where));
  EW_TRY(node.env, OptionalObject(value, "env", where));
  return node;
}

Result<ConfigNode> ConfigFromJson(const Json& value, const std::string& where) {
  if (!value.is_object()) return Bad(where, "not an object");
  ConfigNode config;
  EW_TRY(config.id, NonEmptyString(value, "id", where));
  EW_TRY(config.type, NonEmptyString(value, "type", where));
  EW_TRY(config.props, OptionalObject(value, "props", where));
  return config;
}

Result<OutboundWire> OutboundFromJson(const Json& value, const std::string& where) {
  if (!value.is_object()) return Bad(where, "not an object");
  OutboundWire wire;
  EW_TRY(wire.node, NonEmptyString(value, "node", where));
  auto port = value.find("port");
  if (port == value.end()) return Bad(Field(where, "port"), "missing");
  if (!port->is_number_integer() || port->get<int64_t>() < 0 ||
      port->get<int64_t>() > std::numeric_limits<uint32_t>::max()) {
    return Bad(Field(where, "port"), "not an unsigned 32-bit integer");
  }
  wire.port = port->get<uint32_t>();
  EW_TRY(wire.topic, NonEmptyString(value, "topic", where));
  return wire;
}

Result<InboundWire> InboundFromJson(const Json& value, const std::string& where, const PartitionLimits& limits) {
  if (!value.is_object()) return Bad(where, "not an object");
  InboundWire wire;
  EW_TRY(wire.topic, NonEmptyString(value, "topic", where));
  auto targets = value.find("targets");
  if (targets == value.end()) return Bad(Field(where, "targets"), "missing");
  EW_TRY(wire.targets, StringList(*targets, Field(where, "targets"), limits.max_targets));
  return wire;
}

// Every id a wire, an outbound or an inbound entry names must be a node of this partition.
Result<void> CheckReferences(const Partition& partition) {
  std::unordered_map<std::string, const Node*> by_id;
  for (size_t i = 0; i < partition.nodes.size(); ++i) {
    const Node& node = partition.nodes[i];
    if (!by_id.emplace(node.id, &node).second) {
      return Bad(fmt::format("nodes[{}].id", i), fmt::format("node id \"{}\" repeats", node.id));
    }
  }
  for (size_t i = 0; i < partition.nodes.size(); ++i) {
    const Node& node = partition.nodes[i];
    for (size_t port = 0; port < node.wires.size(); ++port) {
      for (const auto& target : node.wires[port]) {
        if (by_id.count(target) == 0) {
          return Bad(fmt::format("nodes[{}].wires[{}]", i, port),
                     fmt::format("node \"{}\" wires to \"{}\", which is not in the partition", node.id, target));
        }
      }
    }
  }
  std::unordered_set<std::string> config_ids;
  for (size_t i = 0; i < partition.configs.size(); ++i) {
    if (!config_ids.insert(partition.configs[i].id).second) {
      return Bad(fmt::format("configs[{}].id", i), fmt::format("config id \"{}\" repeats", partition.configs[i].id));
    }
  }
  for (size_t i = 0; i < partition.outbound.size(); ++i) {
    const auto& wire = partition.outbound[i];
    auto it = by_id.find(wire.node);
    if (it == by_id.end()) {
      return Bad(fmt::format("outbound[{}].node", i), fmt::format("\"{}\" is not in the partition", wire.node));
    }
    if (wire.port >= it->second->wires.size()) {
      return Bad(fmt::format("outbound[{}].port", i),
                 fmt::format("node \"{}\" has {} output(s), no port {}", wire.node, it->second->wires.size(), wire.port));
    }
  }
  for (size_t i = 0; i < partition.inbound.size(); ++i) {
    for (const auto& target : partition.inbound[i].targets) {
      if (by_id.count(target) == 0) {
        return Bad(fmt::format("inbound[{}].targets", i), fmt::format("\"{}\" is not in the partition", target));
      }
    }
  }
  return Ok();
}

Json NodeToJson(const Node& node) {
  Json wires = Json::array();
  for (const auto& port : node.wires) wires.push_back(port);
  return Json{{"id", node.id},   {"type", node.type},   {"tab", node.tab}, {"name", node.name},
              {"wires", wires},  {"props", node.props}, {"env", node.env}};
}

}  // namespace

Json ToJson(const Partition& partition) {
  Json nodes = Json::array();
  for (const auto& node : partition.nodes) nodes.push_back(NodeToJson(node));
  Json configs = Json::array();
  for (const auto& config : partition.configs) {
    configs.push_back(Json{{"id", config.id}, {"type", config.type}, {"props", config.props}});
  }
  Json outbound = Json::array();
  for (const auto& wire : partition.outbound) {
    outbound.push_back(Json{{"node", wire.node}, {"port", wire.port}, {"topic", wire.topic}});
  }
  Json inbound = Json::array();
  for (const auto& wire : partition.inbound) {
    inbound.push_back(Json{{"topic", wire.topic}, {"targets", wire.targets}});
  }
  return Json{{"flow", partition.flow},   {"version", partition.version}, {"board", partition.board},
              {"nodes", nodes},           {"configs", configs},           {"outbound", outbound},
              {"inbound", inbound}};
}

Result<Partition> PartitionFromJson(const Json& value, const PartitionLimits& limits) {
  if (!value.is_object()) return Bad("document", "not an object");
  if (json::Depth(value, limits.max_depth) > limits.max_depth) {
    return Bad("document", fmt::format("nesting deeper than {} levels", limits.max_depth));
  }
  Partition partition;
  EW_TRY(partition.flow, NonEmptyString(value, "flow", ""));
  auto version = value.find("version");
  if (version == value.end()) return Bad("version", "missing");
  if (!version->is_number_integer() || version->get<int64_t>() < 0) return Bad("version", "not an unsigned integer");
  partition.version = version->get<uint64_t>();
  EW_TRY(partition.board, OptionalString(value, "board", ""));

  EW_TRY(const Json* nodes, OptionalArray(value, "nodes", "", limits.max_nodes));
  for (size_t i = 0; i < nodes->size(); ++i) {
    EW_TRY(auto node, NodeFromJson((*nodes)[i], fmt::format("nodes[{}]", i), limits));
    partition.nodes.push_back(std::move(node));
  }
  EW_TRY(const Json* configs, OptionalArray(value, "configs", "", limits.max_nodes));
  for (size_t i = 0; i < configs->size(); ++i) {
    EW_TRY(auto config, ConfigFromJson((*configs)[i], fmt::format("configs[{}]", i)));
    partition.configs.push_back(std::move(config));
  }
  EW_TRY(const Json* outbound, OptionalArray(value, "outbound", "", limits.max_nodes));
  for (size_t i = 0; i < outbound->size(); ++i) {
    EW_TRY(auto wire, OutboundFromJson((*outbound)[i], fmt::format("outbound[{}]", i)));
    partition.outbound.push_back(std::move(wire));
  }
  EW_TRY(const Json* inbound, OptionalArray(value, "inbound", "", limits.max_nodes));
  for (size_t i = 0; i < inbound->size(); ++i) {
    EW_TRY(auto wire, InboundFromJson((*inbound)[i], fmt::format("inbound[{}]", i), limits));
    partition.inbound.push_back(std::move(wire));
  }
  EW_TRY_VOID(CheckReferences(partition));
  return partition;
}

Result<Partition> ParsePartition(std::string_view text, const PartitionLimits& limits) {
  json::ParseLimits parse_limits;
  parse_limits.max_bytes = limits.max_bytes;
  parse_limits.max_depth = limits.max_depth;
  parse_limits.what = "partition";
  EW_TRY(auto value, json::Parse(text, parse_limits));
  return PartitionFromJson(value, limits);
}

}  // namespace ew::flows
