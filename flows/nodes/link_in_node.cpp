// link in: an entry point for link out / link call nodes; sends what it receives.
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

class LinkInNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;
  void OnInput(Msg msg) override { Send(std::move(msg)); }
};

}  // namespace

NodePtr MakeLinkInNode(FlowRuntime& rt, const flows::Node& def) {
  return std::unique_ptr<RuntimeNode>(std::make_unique<LinkInNode>(rt, def));
}

}  // namespace ew::flows::nodes
