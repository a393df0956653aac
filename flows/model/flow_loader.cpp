// Two passes over the export: the first reads each object on its own (shape and types), the
// second checks what objects say about each other (z, wires, links, groups, subflows).
#include "flows/model/flow_loader.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/json/guarded_json.hpp"

namespace ew::flows {

namespace {

using Json = nlohmann::json;

constexpr std::string_view kSubflowPrefix = "subflow:";

bool IsLinkType(const std::string& type) { return type == "link in" || type == "link out" || type == "link call"; }

class Validator {
 public:
  Validator(const FlowLimits& limits) : limits_(limits) {}

  bool Full() const { return issues_.size() >= limits_.max_issues; }

  void Report(const FlowObject& object, std::string message) {
    if (Full()) return;
    issues_.push_back(FlowIssue{object.id, object.type, object.z, std::move(message)});
  }
  void ReportFlow(std::string message) {
    if (Full()) return;
    issues_.push_back(FlowIssue{"", "", "", std::move(message)});
  }

  std::vector<FlowIssue>& issues() { return issues_; }

  // First pass: one object's shape. Returns false when the object cannot be kept at all.
  bool Read(const Json& value, size_t index, FlowObject* out) {
    if (!value.is_object()) {
      ReportFlow(fmt::format("entry {} of the flow is not an object", index));
      return false;
    }
    auto id = value.find("id");
    auto type = value.find("type");
    if (id == value.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
      ReportFlow(fmt::format("entry {} of the flow has no string id", index));
      return false;
    }
    out->id = id->get<std::string>();
    if (type == value.end() || !type->is_string() || type->get_ref<const std::string&>().empty()) {
      if (!Full()) issues_.push_back(FlowIssue{out->id, "", "", "has no string type"});
      return false;
    }
    out->type = type->get<std::string>();
    out->raw = value;
    out->z = StringField(value, "z", *out);
    out->g = StringField(value, "g", *out);
    out->kind = Classify(value, out->type);
    out->name = StringField(value, out->kind == ObjectKind::kTab ? "label" : "name", *out);
    out->disabled = BoolField(value, out->kind == ObjectKind::kTab ? "disabled" : "d", *out);
    if (out->kind == ObjectKind::kTab || out->kind == ObjectKind::kSubflow) {
      if (!out->z.empty()) Report(*out, fmt::format("a {} cannot be on a tab (z)", out->type));
    }
    if (value.contains("wires")) ReadWires(value["wires"], out);
    if (IsLinkType(out->type)) ReadLinks(value, out);
    if (out->kind == ObjectKind::kSubflowInstance) out->subflow = out->type.substr(kSubflowPrefix.size());
    if (out->kind == ObjectKind::kSubflow) ReadSubflowPorts(value, out);
    if (value.contains("env")) ReadEnv(value["env"], out);
    return true;
  }

  // Second pass: references between objects.
  void CheckReferences(const Flow& flow) {
    for (const auto& object : flow.objects()) {
      if (Full()) return;
      CheckZ(flow, object);
      CheckGroup(flow, object);
      CheckWires(flow, object);
      CheckLinks(flow, object);
      if (object.kind == ObjectKind::kSubflowInstance) {
        const FlowObject* def = flow.Find(object.subflow);
        if (def == nullptr || def->kind != ObjectKind::kSubflow) {
          Report(object, fmt::format("uses unknown subflow \"{}\"", object.subflow));
        }
      }
      if (object.kind == ObjectKind::kSubflow) CheckSubflowPorts(flow, object);
    }
  }

  // Subflows used inside each other: no cycle, nesting and expanded size within the limits.
  void CheckSubflowNesting(const Flow& flow) {
    if (!issues_.empty()) return;  // references are known to resolve only when nothing failed
    std::unordered_map<std::string, std::vector<const FlowObject*>> instances_in;  // subflow → instances inside it
    std::unordered_map<std::string, size_t> nodes_in;                              // subflow → plain nodes inside it
    size_t top_nodes = 0;
    std::vector<const FlowObject*> top_instances;
    for (const auto& object : flow.objects()) {
      if (object.kind != ObjectKind::kNode && object.kind != ObjectKind::kSubflowInstance &&
          object.kind != ObjectKind::kJunction && object.kind != ObjectKind::kConfig) {
        continue;
      }
      const FlowObject* parent = object.z.empty() ? nullptr : flow.Find(object.z);
      bool in_subflow = parent != nullptr && parent->kind == ObjectKind::kSubflow;
      if (object.kind == ObjectKind::kSubflowInstance) {
        (in_subflow ? instances_in[parent->id] : top_instances).push_back(&object);
      } else {
        (in_subflow ? nodes_in[parent->id] : top_nodes) += 1;
      }
    }
    // Expanded size per subflow, memoised; state 1 = on the current path (a cycle when met again).
    std::unordered_map<std::string, int> state;
    std::unordered_map<std::string, size_t> size;
    const size_t cap = limits_.max_flat_nodes + 1;
    std::function<bool(const FlowObject&, size_t)> visit = [&](const FlowObject& instance, size_t depth) -> bool {
      const std::string& sf = instance.subflow;
      if (depth > limits_.max_subflow_depth) {
        Report(instance, fmt::format("subflows nest deeper than {} levels", limits_.max_subflow_depth));
        return false;
      }
      if (state[sf] == 1) {
        Report(instance, fmt::format("subflow \"{}\" contains itself", sf));
        return false;
      }
      if (state[sf] == 2) return true;
      state[sf] = 1;
      size_t total = nodes_in[sf];
      for (const FlowObject* inner : instances_in[sf]) {
        if (!visit(*inner, depth + 1)) return false;
        total = std::min(cap, total + size[inner->subflow]);
      }
      state[sf] = 2;
      size[sf] = total;
      return true;
    };
    size_t total = top_nodes;
    for (const FlowObject* instance : top_instances) {
      if (!visit(*instance, 1)) return;
      total = std::min(cap, total + size[instance->subflow]);
    }
    // Subflows no tab uses are checked for cycles too (they could be used by the next version).
    for (const auto& [sf, inner] : instances_in) {
      for (const FlowObject* instance : inner) {
        if (!visit(*instance, 2)) return;
      }
    }
    if (total > limits_.max_flat_nodes) {
      ReportFlow(fmt::format("the flow expands to more than {} nodes once its subflows are expanded",
                             limits_.max_flat_nodes));
    }
  }

 private:
  static ObjectKind Classify(const Json& value, const std::string& type) {
    if (type == "tab") return ObjectKind::kTab;
    if (type == "subflow") return ObjectKind::kSubflow;
    if (type == "group") return ObjectKind::kGroup;
    if (type == "junction") return ObjectKind::kJunction;
    if (type.size() > kSubflowPrefix.size() && type.compare(0, kSubflowPrefix.size(), kSubflowPrefix) == 0) {
      return ObjectKind::kSubflowInstance;
    }
    // Node-RED knows config nodes from their definition; an export tells them apart by shape:
    // every flow node is written with `wires` (even `[]`), a config node never is.
    return value.contains("wires") ? ObjectKind::kNode : ObjectKind::kConfig;
  }

  std::string StringField(const Json& value, const char* key, const FlowObject& object) {
    auto it = value.find(key);
    if (it == value.end() || it->is_null()) return "";
    if (!it->is_string()) {
      Report(object, fmt::format("`{}` is not a string", key));
      return "";
    }
    return it->get<std::string>();
  }

  bool BoolField(const Json& value, const char* key, const FlowObject& object) {
    auto it = value.find(key);
    if (it == value.end() || it->is_null()) return false;
    if (!it->is_boolean()) {
      Report(object, fmt::format("`{}` is not a boolean", key));
      return false;
    }
    return it->get<bool>();
  }

  void ReadWires(const Json& wires, FlowObject* out) {
    if (!wires.is_array()) {
      Report(*out, "`wires` is not an array");
      return;
    }
    for (size_t port = 0; port < wires.size(); ++port) {
      const Json& targets = wires[port];
      if (!targets.is_array()) {
        Report(*out, fmt::format("`wires[{}]` is not an array of node ids", port));
        return;
      }
      std::vector<std::string> ids;
      for (const auto& target : targets) {
        if (!target.is_string()) {
          Report(*out, fmt::format("`wires[{}]` holds something other than a node id", port));
          return;
        }
        ids.push_back(target.get<std::string>());
      }
      out->wires.push_back(std::move(ids));
    }
    if (out->kind == ObjectKind::kJunction && out->wires.size() > 1) Report(*out, "a junction has one output");
  }

  void ReadLinks(const Json& value, FlowObject* out) {
    auto it = value.find("links");
    if (it == value.end() || it->is_null()) return;
    if (!it->is_array()) {
      Report(*out, "`links` is not an array");
      return;
    }
    for (const auto& target : *it) {
      if (!target.is_string()) {
        Report(*out, "`links` holds something other than a node id");
        return;
      }
      out->links.push_back(target.get<std::string>());
    }
  }

  void ReadSubflowPorts(const Json& value, FlowObject* out) {
    auto in = value.find("in");
    if (in != value.end() && !in->is_null()) {
      if (!in->is_array() || in->size() > 1) {
        Report(*out, "`in` is not an array of at most one port");
      } else {
        for (const auto& port : *in) {
          std::vector<SubflowPortRef> refs;
          if (!ReadPort(port, "in", out, &refs)) return;
          for (auto& ref : refs) out->subflow_in.push_back(ref.id);
        }
      }
    }
    auto outs = value.find("out");
    if (outs != value.end() && !outs->is_null()) {
      if (!outs->is_array()) {
        Report(*out, "`out` is not an array of ports");
        return;
      }
      for (const auto& port : *outs) {
        std::vector<SubflowPortRef> refs;
        if (!ReadPort(port, "out", out, &refs)) return;
        out->subflow_out.push_back(std::move(refs));
      }
    }
  }

  bool ReadPort(const Json& port, const char* which, FlowObject* out, std::vector<SubflowPortRef>* refs) {
    auto found = port.is_object() ? port.find("wires") : port.end();
    const Json* wires = port.is_object() && found != port.end() ? &*found : nullptr;
    if (wires == nullptr || !wires->is_array()) {
      Report(*out, fmt::format("`{}` port has no `wires` array", which));
      return false;
    }
    for (const auto& wire : *wires) {
      if (!wire.is_object() || !wire.contains("id") || !wire["id"].is_string()) {
        Report(*out, fmt::format("`{}` port wire has no string id", which));
        return false;
      }
      SubflowPortRef ref{wire["id"].get<std::string>(), 0};
      if (wire.contains("port")) {
        const Json& p = wire["port"];
        if (!p.is_number_integer() || p.get<int64_t>() < 0 || p.get<int64_t>() > std::numeric_limits<uint32_t>::max()) {
          Report(*out, fmt::format("`{}` port wire has a bad port number", which));
          return false;
        }
        ref.port = p.get<uint32_t>();
      }
      refs->push_back(std::move(ref));
    }
    return true;
  }

  void ReadEnv(const Json& env, FlowObject* out) {
    if (!env.is_array()) {
      Report(*out, "`env` is not an array");
      return;
    }
    for (const auto& entry : env) {
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
          (entry.contains("type") && !entry["type"].is_string())) {
        Report(*out, "`env` entries must be objects with a string name and type");
        return;
      }
    }
    out->env = env;
  }

  void CheckZ(const Flow& flow, const FlowObject& object) {
    if (object.kind == ObjectKind::kTab || object.kind == ObjectKind::kSubflow) return;
    if (object.z.empty()) {
      if (object.kind != ObjectKind::kConfig) Report(object, "has no tab (z)");
      return;
    }
    const FlowObject* parent = flow.Find(object.z);
    if (parent == nullptr || (parent->kind != ObjectKind::kTab && parent->kind != ObjectKind::kSubflow)) {
      Report(object, fmt::format("is on tab \"{}\", which is not in the flow", object.z));
    }
  }

  void CheckGroup(const Flow& flow, const FlowObject& object) {
    if (object.g.empty()) return;
    const FlowObject* group = flow.Find(object.g);
    if (group == nullptr || group->kind != ObjectKind::kGroup) {
      Report(object, fmt::format("is in group \"{}\", which is not in the flow", object.g));
    } else if (group->z != object.z) {
      Report(object, fmt::format("is in group \"{}\" of another tab", object.g));
    } else if (group->id == object.id) {
      Report(object, "is in itself");
    }
  }

  void CheckWires(const Flow& flow, const FlowObject& object) {
    for (const auto& port : object.wires) {
      for (const auto& target_id : port) {
        const FlowObject* target = flow.Find(target_id);
        if (target == nullptr) {
          Report(object, fmt::format("wires to unknown node \"{}\"", target_id));
        } else if (target->kind != ObjectKind::kNode && target->kind != ObjectKind::kJunction &&
                   target->kind != ObjectKind::kSubflowInstance) {
          Report(object, fmt::format("wires to \"{}\", a {} that takes no messages", target_id, target->type));
        } else if (target->z != object.z) {
          Report(object, fmt::format("wires to \"{}\" on another tab", target_id));
        }
      }
    }
  }

  void CheckLinks(const Flow& flow, const FlowObject& object) {
    for (const auto& target_id : object.links) {
      const FlowObject* target = flow.Find(target_id);
      // A link to a node that is gone is left behind by the editor (Node-RED's own examples have
      // one) and ignored by Node-RED; the flattener drops it too.
      if (target != nullptr && !IsLinkType(target->type)) {
        Report(object, fmt::format("links to \"{}\", a {} rather than a link node", target_id, target->type));
      }
    }
  }

  void CheckSubflowPorts(const Flow& flow, const FlowObject& subflow) {
    auto inside = [&](const std::string& id) {
      const FlowObject* node = flow.Find(id);
      return node != nullptr && node->z == subflow.id &&
             (node->kind == ObjectKind::kNode || node->kind == ObjectKind::kJunction ||
              node->kind == ObjectKind::kSubflowInstance);
    };
    for (const auto& id : subflow.subflow_in) {
      if (!inside(id)) Report(subflow, fmt::format("input feeds \"{}\", which is not a node of the subflow", id));
    }
    for (size_t port = 0; port < subflow.subflow_out.size(); ++port) {
      for (const auto& ref : subflow.subflow_out[port]) {
        if (ref.id != subflow.id && !inside(ref.id)) {
          Report(subflow, fmt::format("output {} is fed by \"{}\", which is not a node of the subflow", port, ref.id));
        }
      }
    }
  }

  const FlowLimits& limits_;
  std::vector<FlowIssue> issues_;
};

}  // namespace

Result<Flow> LoadFlow(const Json& value, const FlowLimits& limits, std::vector<FlowIssue>* issues) {
  auto fail = [&](std::vector<FlowIssue> found) -> Result<Flow> {
    Error error = IssuesError(found);
    if (issues != nullptr) *issues = std::move(found);
    return tl::unexpected<Error>(std::move(error));
  };
  const Json* list = &value;
  if (value.is_object() && value.contains("flows")) list = &value["flows"];
  if (!list->is_array()) return fail({FlowIssue{"", "", "", "a flow is an array of nodes (a Node-RED export)"}});
  if (list->size() > limits.max_objects) {
    return fail({FlowIssue{"", "", "", fmt::format("the flow has more than {} objects", limits.max_objects)}});
  }
  if (json::Depth(*list, limits.max_depth) > limits.max_depth) {
    return fail({FlowIssue{"", "", "", fmt::format("the flow nests deeper than {} levels", limits.max_depth)}});
  }
  Validator validator(limits);
  std::vector<FlowObject> objects;
  std::unordered_set<std::string> seen;
  objects.reserve(list->size());
  for (size_t i = 0; i < list->size() && !validator.Full(); ++i) {
    FlowObject object;
    if (!validator.Read((*list)[i], i, &object)) continue;
    if (!seen.insert(object.id).second) {
      validator.Report(object, "id is used by another object of the flow");
      continue;
    }
    objects.push_back(std::move(object));
  }
  Flow flow(std::move(objects));
  validator.CheckReferences(flow);
  validator.CheckSubflowNesting(flow);
  if (!validator.issues().empty()) return fail(std::move(validator.issues()));
  if (issues != nullptr) issues->clear();
  return flow;
}

Result<Flow> ParseFlow(std::string_view text, const FlowLimits& limits, std::vector<FlowIssue>* issues) {
  json::ParseLimits parse_limits;
  parse_limits.max_bytes = limits.max_bytes;
  parse_limits.max_depth = limits.max_depth;
  parse_limits.what = "flow";
  auto value = json::Parse(text, parse_limits);
  if (!value) {
    if (issues != nullptr) *issues = {FlowIssue{"", "", "", value.error().message}};
    return tl::unexpected<Error>(value.error());
  }
  return LoadFlow(*value, limits, issues);
}

}  // namespace ew::flows
