// Flattening in two steps: expansion writes every node, junction and subflow port as a vertex
// (subflow ports and junctions as "virtual" one-output vertices), then collapse replaces every
// wire to a virtual vertex by the real nodes it leads to and drops the virtual ones.
#include "flows/partition/flattener.hpp"

#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "flows/partition/env_scope.hpp"

namespace ew::flows {

namespace {

using Json = nlohmann::json;

// Fields of an exported node that Partition lifts out or that only the editor uses.
const std::unordered_set<std::string> kLiftedFields = {"id", "type", "z", "g", "name", "wires", "x", "y", "d", "w", "h"};

// A subflow expansion (or the top level) as seen from inside it.
struct Scope {
  const FlowObject* subflow = nullptr;  // nullptr at the top level
  std::string prefix;                   // "" at the top level, "<instance id>-" inside
  std::string tab;                      // the tab copies run on
  std::string board;                    // placement of what has no board of its own
  Json env = Json::object();            // env of the enclosing scope, resolved
  const FlowObject* owner = nullptr;    // tab or instance whose env this is (for issues)
};

struct Vertex {
  std::string id;
  bool is_virtual = false;
  std::vector<std::vector<std::string>> wires;
  FlatNode flat;  // real vertices only
};

class Flattener {
 public:
  explicit Flattener(const Flow& flow) : flow_(flow) {
    for (const auto& object : flow.objects()) {
      if (!object.z.empty()) children_[object.z].push_back(&object);
    }
  }

  Result<FlatFlow> Run(std::vector<FlowIssue>* issues) {
    for (const auto& object : flow_.objects()) {
      if (object.kind == ObjectKind::kConfig && object.z.empty() && !object.disabled) AddConfig(object, Scope{});
      if (object.kind != ObjectKind::kTab || object.disabled) continue;
      Scope scope;
      scope.tab = object.id;
      scope.owner = &object;
      auto env = ApplyEnv(object.env, Json::object());
      if (!env) {
        Report(object, object.id, env.error().message);
        continue;
      }
      scope.env = std::move(*env);
      scope.board = TabBoard(object, scope.env);
      AddChildren(object.id, scope);
    }
    for (const auto& extra : extra_wires_) ApplyExtraWire(extra);
    if (issues_.empty()) Collapse();
    if (!issues_.empty()) {
      Error error = IssuesError(issues_);
      if (issues != nullptr) *issues = std::move(issues_);
      return tl::unexpected<Error>(std::move(error));
    }
    FlatFlow out;
    for (auto& vertex : vertices_) {
      if (!vertex.is_virtual) out.nodes.push_back(std::move(vertex.flat));
    }
    out.configs = std::move(configs_);
    if (issues != nullptr) issues->clear();
    return out;
  }

 private:
  struct ExtraWire {
    std::string source;  // flattened id of a node inside a subflow copy
    uint32_t port = 0;
    std::string target;  // the copy's output vertex
  };

  void Report(const FlowObject& object, const std::string& id, const std::string& message, const std::string& tab = "") {
    if (issues_.size() >= 100) return;
    issues_.push_back(FlowIssue{id, object.type, tab.empty() ? object.z : tab, message});
  }

  std::string TabBoard(const FlowObject& tab, const Json& env) {
    if (tab.raw.contains("board") && tab.raw["board"].is_string() && !tab.raw["board"].get<std::string>().empty()) {
      return tab.raw["board"].get<std::string>();
    }
    auto it = env.find("EDGEWIRE_BOARD");
    if (it != env.end() && it->is_string()) return it->get<std::string>();
    return "";
  }

  // The id an object has in this expansion: objects of the subflow being expanded get the prefix.
  std::string MapId(const Scope& scope, const std::string& id) const {
    if (scope.subflow == nullptr) return id;
    const FlowObject* object = flow_.Find(id);
    if (object != nullptr && object->z == scope.subflow->id) return scope.prefix + id;
    return id;
  }

  Json MapIds(const Scope& scope, const Json& value) const {
    if (scope.subflow == nullptr) return value;
    if (value.is_string()) return Json(MapId(scope, value.get<std::string>()));
    if (value.is_array() || value.is_object()) {
      Json out = value;
      for (auto it = out.begin(); it != out.end(); ++it) *it = MapIds(scope, *it);
      return out;
    }
    return value;
  }

  // Groups enclosing `object`, innermost first.
  std::vector<const FlowObject*> Groups(const FlowObject& object) const {
    std::vector<const FlowObject*> chain;
    std::unordered_set<std::string> seen;
    for (std::string g = object.g; !g.empty() && seen.insert(g).second;) {
      const FlowObject* group = flow_.Find(g);
      if (group == nullptr) break;
      chain.push_back(group);
      g = group->g;
    }
    return chain;
  }

  // Env and placement of `object` from its scope and groups. False (issue reported) on error.
  bool Resolve(const FlowObject& object, const std::string& id, const Scope& scope, Json* env, std::string* board) {
    auto groups = Groups(object);
    *env = scope.env;
    for (auto it = groups.rbegin(); it != groups.rend(); ++it) {
      auto applied = ApplyEnv((*it)->env, *env);
      if (!applied) {
        Report(object, id, fmt::format("group \"{}\": {}", (*it)->id, applied.error().message), scope.tab);
        return false;
      }
      *env = std::move(*applied);
    }
    *board = scope.board;
    auto own = object.raw.find("board");
    if (own != object.raw.end() && !own->is_null()) {
      if (!own->is_string()) {
        Report(object, id, "`board` is not a string", scope.tab);
        return false;
      }
      if (!own->get<std::string>().empty()) {
        *board = own->get<std::string>();
        return true;
      }
    }
    // Nearest group with EDGEWIRE_BOARD wins; its value is evaluated in the group's own scope.
    for (size_t i = 0; i < groups.size(); ++i) {
      Json outer = scope.env;
      for (size_t j = groups.size(); j-- > i + 1;) outer = ApplyEnv(groups[j]->env, outer).value_or(outer);
      auto group_board = BoardFromEnv(groups[i]->env, outer);
      if (!group_board) {
        Report(object, id, fmt::format("group \"{}\": {}", groups[i]->id, group_board.error().message), scope.tab);
        return false;
      }
      if (!group_board->empty()) {
        *board = *group_board;
        return true;
      }
    }
    return true;
  }

  void AddChildren(const std::string& parent, const Scope& scope) {
    auto it = children_.find(parent);
    if (it == children_.end()) return;
    for (const FlowObject* child : it->second) {
      if (child->disabled) continue;
      switch (child->kind) {
        case ObjectKind::kNode: AddNode(*child, scope); break;
        case ObjectKind::kJunction: AddJunction(*child, scope); break;
        case ObjectKind::kSubflowInstance: Expand(*child, scope); break;
        case ObjectKind::kConfig: AddConfig(*child, scope); break;
        default: break;  // groups, and nothing else has a z
      }
    }
  }

  std::vector<std::vector<std::string>> MapWires(const Scope& scope, const std::vector<std::vector<std::string>>& wires) {
    std::vector<std::vector<std::string>> out;
    for (const auto& port : wires) {
      std::vector<std::string> mapped;
      for (const auto& target : port) mapped.push_back(MapId(scope, target));
      out.push_back(std::move(mapped));
    }
    return out;
  }

  void AddVertex(Vertex vertex, const FlowObject& object) {
    if (!index_.emplace(vertex.id, vertices_.size()).second) {
      Report(object, vertex.id, "its flattened id collides with another node's");
      return;
    }
    vertices_.push_back(std::move(vertex));
  }

  void AddNode(const FlowObject& object, const Scope& scope) {
    if (object.type == "comment") return;  // not a runtime node (flows contract)
    Vertex vertex;
    vertex.id = scope.prefix + object.id;
    vertex.wires = MapWires(scope, object.wires);
    Node& node = vertex.flat.node;
    node.id = vertex.id;
    node.type = object.type;
    node.tab = scope.tab;
    node.name = object.name;
    if (!Resolve(object, vertex.id, scope, &node.env, &vertex.flat.board)) return;
    for (auto it = object.raw.begin(); it != object.raw.end(); ++it) {
      if (kLiftedFields.count(it.key()) == 0) node.props[it.key()] = MapIds(scope, it.value());
    }
    AddVertex(std::move(vertex), object);
  }

  void AddJunction(const FlowObject& object, const Scope& scope) {
    Vertex vertex;
    vertex.id = scope.prefix + object.id;
    vertex.is_virtual = true;
    vertex.wires = MapWires(scope, object.wires);
    AddVertex(std::move(vertex), object);
  }

  void AddConfig(const FlowObject& object, const Scope& scope) {
    if (object.disabled) return;
    ConfigNode config;
    config.id = scope.prefix + object.id;
    config.type = object.type;
    for (auto it = object.raw.begin(); it != object.raw.end(); ++it) {
      if (kLiftedFields.count(it.key()) == 0 || it.key() == "name") config.props[it.key()] = MapIds(scope, it.value());
    }
    configs_.push_back(std::move(config));
  }

  // A subflow instance: a virtual input vertex (its own id) feeding the subflow's input nodes, a
  // virtual vertex per output feeding what the instance's output wires to, and the copies.
  void Expand(const FlowObject& instance, const Scope& scope) {
    const FlowObject* def = flow_.Find(instance.subflow);
    if (def == nullptr) return;  // LoadFlow refused this already
    std::string id = scope.prefix + instance.id;
    Scope inner;
    inner.subflow = def;
    inner.prefix = id + "-";
    inner.tab = scope.tab;
    inner.owner = &instance;
    Json base;
    if (!Resolve(instance, id, scope, &base, &inner.board)) return;
    auto def_env = ApplyEnv(def->env, base);
    if (!def_env) {
      Report(instance, id, fmt::format("subflow \"{}\": {}", def->id, def_env.error().message), scope.tab);
      return;
    }
    // The instance's own values override the definition's, evaluated in the instance's scope.
    auto instance_env = ApplyEnv(instance.env, base);
    if (!instance_env) {
      Report(instance, id, instance_env.error().message, scope.tab);
      return;
    }
    inner.env = std::move(*def_env);
    for (auto it = instance_env->begin(); it != instance_env->end(); ++it) {
      bool own = false;
      for (const auto& entry : instance.env) own = own || entry.value("name", Json()) == it.key();
      if (own) inner.env[it.key()] = it.value();
    }

    Vertex input;
    input.id = id;
    input.is_virtual = true;
    input.wires.resize(1);
    for (const auto& target : def->subflow_in) input.wires[0].push_back(inner.prefix + target);
    auto outer_wires = MapWires(scope, instance.wires);
    for (size_t port = 0; port < def->subflow_out.size(); ++port) {
      Vertex output;
      output.id = OutputVertexId(id, port);
      output.is_virtual = true;
      output.wires.resize(1);
      if (port < outer_wires.size()) output.wires[0] = outer_wires[port];
      for (const auto& ref : def->subflow_out[port]) {
        if (ref.id == def->id) {
          input.wires[0].push_back(output.id);
        } else {
          extra_wires_.push_back(ExtraWire{inner.prefix + ref.id, ref.port, output.id});
        }
      }
      AddVertex(std::move(output), instance);
    }
    AddVertex(std::move(input), instance);
    AddChildren(def->id, inner);
  }

  // Virtual ids hold a byte no exported id has, so they never meet a real one.
  static std::string OutputVertexId(const std::string& instance, size_t port) {
    return fmt::format("{}\x1fout{}", instance, port);
  }

  void ApplyExtraWire(const ExtraWire& extra) {
    auto it = index_.find(extra.source);
    if (it == index_.end()) return;  // the node feeding the output is disabled
    auto& wires = vertices_[it->second].wires;
    if (wires.size() <= extra.port) wires.resize(extra.port + 1);
    wires[extra.port].push_back(extra.target);
  }

  // Real nodes a wire to `id` reaches: itself, or (virtual) what its output leads to. Junction
  // loops lead nowhere; `seen` stops them.
  void Reach(const std::string& id, std::unordered_set<std::string>& seen, std::vector<std::string>& out) {
    auto it = index_.find(id);
    if (it == index_.end()) return;  // disabled, on a disabled tab, or a comment
    const Vertex& vertex = vertices_[it->second];
    if (!vertex.is_virtual) {
      if (seen.insert(id).second) out.push_back(id);
      return;
    }
    if (!seen.insert(id).second) return;
    for (const auto& port : vertex.wires) {
      for (const auto& next : port) Reach(next, seen, out);
    }
  }

  void Collapse() {
    for (auto& vertex : vertices_) {
      if (vertex.is_virtual) continue;
      Node& node = vertex.flat.node;
      for (const auto& port : vertex.wires) {
        std::unordered_set<std::string> seen;
        std::vector<std::string> targets;
        for (const auto& target : port) Reach(target, seen, targets);
        node.wires.push_back(std::move(targets));
      }
      if (node.type == "link in" || node.type == "link out" || node.type == "link call") FixLinks(node);
    }
  }

  void FixLinks(Node& node) {
    std::vector<std::string> links;
    auto it = node.props.find("links");
    if (it != node.props.end() && it->is_array()) {
      for (const auto& target : *it) {
        if (!target.is_string()) continue;
        auto found = index_.find(target.get<std::string>());
        if (found != index_.end() && !vertices_[found->second].is_virtual) links.push_back(target.get<std::string>());
      }
      *it = links;
    }
    if (node.type == "link out" && node.props.value("mode", std::string("link")) != "return") {
      node.wires = {links};
    }
  }

  const Flow& flow_;
  std::unordered_map<std::string, std::vector<const FlowObject*>> children_;
  std::vector<Vertex> vertices_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<ExtraWire> extra_wires_;
  std::vector<ConfigNode> configs_;
  std::vector<FlowIssue> issues_;
};

}  // namespace

Result<FlatFlow> Flatten(const Flow& flow, std::vector<FlowIssue>* issues) { return Flattener(flow).Run(issues); }

}  // namespace ew::flows
