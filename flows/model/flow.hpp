// A Node-RED 4.1 flow export (the array the editor's Export writes, or the `flows` of the admin
// API's v2 format) after loading and validation: every object kept as exported, classified, with
// the fields the partitioner needs lifted out. Only flows/model/flow_loader builds one, so every
// Flow seen elsewhere has passed validation: ids are unique, every `z`, wire, link, group and
// subflow reference resolves, and subflows do not contain themselves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace ew::flows {

enum class ObjectKind {
  kTab,               // "tab": a flow tab of the editor
  kSubflow,           // "subflow": a subflow definition (its nodes have z = its id)
  kSubflowInstance,   // "subflow:<id>": a use of a subflow
  kGroup,             // "group": a box around nodes; may carry env
  kJunction,          // "junction": a wire joint, one input and one output
  kNode,              // any other object with `wires`: a runtime node (incl. comment, link nodes)
  kConfig,            // an object without `wires`: a config node (mqtt-broker, ...)
};

// A wire end inside a subflow definition: `in` ports name a node (`port` unused), `out` ports
// name a node and its output port, or the subflow itself (input passed straight to the output).
struct SubflowPortRef {
  std::string id;
  std::uint32_t port = 0;
};

struct FlowObject {
  std::string id;
  std::string type;
  ObjectKind kind = ObjectKind::kNode;
  std::string z;     // tab or subflow it sits on; "" for tabs, subflow definitions, global configs
  std::string g;     // group it is in; ""
  std::string name;  // `name`, or a tab's `label`
  bool disabled = false;  // `d: true`, or a tab's `disabled: true`
  std::vector<std::vector<std::string>> wires;  // kNode, kJunction, kSubflowInstance
  std::vector<std::string> links;               // link in / link out / link call
  std::string subflow;                          // kSubflowInstance: the definition's id
  std::vector<std::string> subflow_in;          // kSubflow: nodes its input feeds
  std::vector<std::vector<SubflowPortRef>> subflow_out;  // kSubflow: what feeds each output
  nlohmann::json env = nlohmann::json::array();  // tab, group, subflow, instance: typed env list
  nlohmann::json raw;                            // the object as exported
};

class Flow {
 public:
  Flow() = default;
  explicit Flow(std::vector<FlowObject> objects) : objects_(std::move(objects)) {
    for (size_t i = 0; i < objects_.size(); ++i) index_.emplace(objects_[i].id, i);
  }

  const std::vector<FlowObject>& objects() const { return objects_; }
  // nullptr when no object has that id.
  const FlowObject* Find(std::string_view id) const {
    auto it = index_.find(std::string(id));
    return it == index_.end() ? nullptr : &objects_[it->second];
  }

 private:
  std::vector<FlowObject> objects_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace ew::flows
