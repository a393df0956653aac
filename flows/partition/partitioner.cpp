#include "flows/partition/partitioner.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "flows/js/function_script.hpp"
#include "flows/runtime/supported_types.hpp"
#include "flows/model/wire_topic.hpp"

namespace ew::flows {

namespace {

using Json = nlohmann::json;

void CollectStrings(const Json& value, std::unordered_set<std::string>& out) {
  if (value.is_string()) {
    out.insert(value.get<std::string>());
  } else if (value.is_array() || value.is_object()) {
    for (const auto& item : value) CollectStrings(item, out);
  }
}

// Config nodes referenced (transitively) from the partition's nodes, in the flow's order.
std::vector<ConfigNode> ConfigsFor(const std::vector<Node>& nodes, const std::vector<ConfigNode>& configs) {
  std::unordered_map<std::string, const ConfigNode*> by_id;
  for (const auto& config : configs) by_id.emplace(config.id, &config);
  std::unordered_set<std::string> wanted;
  std::vector<const ConfigNode*> queue;
  auto visit = [&](const Json& props) {
    std::unordered_set<std::string> strings;
    CollectStrings(props, strings);
    for (const auto& s : strings) {
      auto it = by_id.find(s);
      if (it != by_id.end() && wanted.insert(s).second) queue.push_back(it->second);
    }
  };
  for (const auto& node : nodes) visit(node.props);
  while (!queue.empty()) {
    const ConfigNode* config = queue.back();
    queue.pop_back();
    visit(config->props);
  }
  std::vector<ConfigNode> out;
  for (const auto& config : configs) {
    if (wanted.count(config.id) != 0) out.push_back(config);
  }
  return out;
}

}  // namespace

Result<std::vector<Partition>> PartitionFlat(const FlatFlow& flat, std::string_view flow_id, std::uint64_t version,
                                             std::vector<FlowIssue>* issues) {
  std::vector<FlowIssue> found;
  std::unordered_map<std::string, const FlatNode*> by_id;
  for (const auto& node : flat.nodes) by_id.emplace(node.node.id, &node);

  std::map<std::string, Partition> partitions;  // ordered: "" (the cloud) first
  std::unordered_map<std::string, std::string> topic_owner;
  for (const auto& flat_node : flat.nodes) {
    const Node& source = flat_node.node;
    Partition& home = partitions[flat_node.board];
    Node local = source;
    for (auto& port : local.wires) port.clear();
    for (size_t port = 0; port < source.wires.size(); ++port) {
      std::string topic;
      for (const auto& target_id : source.wires[port]) {
        const FlatNode* target = by_id.at(target_id);
        if (target->board == flat_node.board) {
          local.wires[port].push_back(target_id);
          continue;
        }
        if (topic.empty()) {
          topic = WireTopic(flow_id, source.id, static_cast<uint32_t>(port));
          auto [owner, inserted] = topic_owner.emplace(topic, source.id);
          if (!inserted && owner->second != source.id) {
            found.push_back(FlowIssue{source.id, source.type, source.tab,
                                      fmt::format("its wire topic is the same as node \"{}\"'s ({}); rename one of them",
                                                  owner->second, topic)});
          }
          home.outbound.push_back(OutboundWire{source.id, static_cast<uint32_t>(port), topic});
        }
        Partition& there = partitions[target->board];
        auto inbound = std::find_if(there.inbound.begin(), there.inbound.end(),
                                    [&](const InboundWire& w) { return w.topic == topic; });
        if (inbound == there.inbound.end()) {
          there.inbound.push_back(InboundWire{topic, {}});
          inbound = there.inbound.end() - 1;
        }
        inbound->targets.push_back(target_id);
      }
    }
    if (source.type == "link call") {
      auto links = source.props.find("links");
      if (links != source.props.end() && links->is_array()) {
        for (const auto& target_id : *links) {
          auto target = by_id.find(target_id.get<std::string>());
          if (target != by_id.end() && target->second->board != flat_node.board) {
            found.push_back(FlowIssue{
                source.id, source.type, source.tab,
                fmt::format("calls link in \"{}\" placed on {}, but a link call and the link in it calls must run "
                            "in the same place (the reply has no way back)",
                            target_id.get<std::string>(),
                            target->second->board.empty() ? "the cloud" : "board \"" + target->second->board + "\"")});
          }
        }
      }
    }
    // Link targets elsewhere are reached through the node's wires (a cross wire); `links` keeps
    // only what the partition's runtime can find.
    auto links = local.props.find("links");
    if (links != local.props.end() && links->is_array()) {
      Json kept = Json::array();
      for (const auto& id : *links) {
        auto target = id.is_string() ? by_id.find(id.get<std::string>()) : by_id.end();
        if (target != by_id.end() && target->second->board == flat_node.board) kept.push_back(id);
      }
      *links = std::move(kept);
    }
    home.nodes.push_back(std::move(local));
  }
  if (!found.empty()) {
    Error error = IssuesError(found);
    if (issues != nullptr) *issues = std::move(found);
    return tl::unexpected<Error>(std::move(error));
  }
  std::vector<Partition> out;
  for (auto& [board, partition] : partitions) {
    partition.flow = std::string(flow_id);
    partition.version = version;
    partition.board = board;
    partition.configs = ConfigsFor(partition.nodes, flat.configs);
    out.push_back(std::move(partition));
  }
  if (issues != nullptr) issues->clear();
  return out;
}

Result<std::vector<Partition>> PartitionFlow(const Flow& flow, std::string_view flow_id, std::uint64_t version,
                                             std::vector<FlowIssue>* issues) {
  EW_TRY(auto flat, Flatten(flow, issues));
  return PartitionFlat(flat, flow_id, version, issues);
}

std::vector<FlowIssue> UnsupportedNodes(const std::vector<Partition>& partitions, bool include_cloud) {
  std::vector<FlowIssue> issues;
  for (const auto& partition : partitions) {
    if (partition.board.empty() && !include_cloud) continue;
    std::string where = partition.board.empty() ? "the conductor's flow runtime"
                                                 : fmt::format("board \"{}\"", partition.board);
    for (const auto& node : partition.nodes) {
      if (!runtime::IsSupportedNodeType(node.type)) {
        issues.push_back(FlowIssue{node.id, node.type, node.tab,
                                   fmt::format("type \"{}\" is not implemented by {}", node.type, where)});
      } else if (node.type == "function") {
        // Compiled now, by the engine the board runs, so that syntax it lacks fails the deploy.
        for (auto& problem : js::CheckFunctionNode(node))
          issues.push_back(FlowIssue{node.id, node.type, node.tab, fmt::format("on {}: {}", where, problem)});
      }
    }
    for (const auto& config : partition.configs) {
      if (!runtime::IsSupportedConfigType(config.type)) {
        issues.push_back(FlowIssue{config.id, config.type, "",
                                   fmt::format("config type \"{}\" is not implemented by {}", config.type, where)});
      }
    }
  }
  return issues;
}

}  // namespace ew::flows
