// Factories of node implementations by Node-RED type. flows/nodes fills one with every type in
// SupportedNodeTypes(); tests may add their own.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/error/error.hpp"
#include "flows/model/partition.hpp"
#include "flows/runtime/runtime_node.hpp"

namespace ew::flows::runtime {

// Builds a node from its definition. Config it cannot run (JSONata, an unknown mode) is refused
// with InvalidArgument naming the problem; the runtime adds node id, type and tab.
using NodeFactory = std::function<Result<std::unique_ptr<RuntimeNode>>(FlowRuntime&, const flows::Node&)>;

class NodeRegistry {
 public:
  void Add(std::string type, NodeFactory factory) { factories_[std::move(type)] = std::move(factory); }
  const NodeFactory* Find(const std::string& type) const {
    auto it = factories_.find(type);
    return it == factories_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> Types() const {
    std::vector<std::string> out;
    for (const auto& [type, factory] : factories_) out.push_back(type);
    return out;
  }

 private:
  std::map<std::string, NodeFactory> factories_;
};

}  // namespace ew::flows::runtime
