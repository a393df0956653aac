// link out: mode "link" sends to the link in nodes listed in `links` (those in this partition;
// a link to another partition arrives as a cross wire on output 0); mode "return" hands the
// message back to the link call on top of msg._linkSource.
#include <algorithm>

#include "flows/nodes/link_return.hpp"
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

class LinkOutNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    mode_ = StrProp("mode", "link");
    if (mode_ != "link" && mode_ != "return") return InvalidArgument("mode \"" + mode_ + "\" is not supported");
    if (auto links = def_.props.find("links"); links != def_.props.end() && links->is_array()) {
      for (const auto& l : *links) {
        if (!l.is_string()) continue;
        // Wires already reaching it (a partitioner may turn links into wires) are not sent twice.
        bool wired = !def_.wires.empty() && std::count(def_.wires[0].begin(), def_.wires[0].end(), l.get<std::string>());
        if (!wired) links_.push_back(l);
      }
    }
    return Ok();
  }

  void OnInput(Msg msg) override {
    if (mode_ == "return") {
      Return(std::move(msg));
      return;
    }
    for (const auto& target : links_) {
      if (rt_.FindNode(target)) rt_.DeliverTo(target, msg);
    }
    Send(std::move(msg));
  }

 private:
  void Return(Msg msg) {
    auto source = msg.find("_linkSource");
    if (source == msg.end() || !source->is_array() || source->empty()) {
      Warn("link out: no link call to return to (msg._linkSource missing)");
      return;
    }
    std::string call = source->back().value("id", "");
    auto* target = dynamic_cast<LinkReturnTarget*>(rt_.FindNode(call));
    if (!target) {
      Error("link call " + call + " is not in this partition", &msg);
      return;
    }
    target->OnReturn(std::move(msg));
  }

  std::string mode_;
  std::vector<std::string> links_;
};

}  // namespace

NodePtr MakeLinkOutNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<LinkOutNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
