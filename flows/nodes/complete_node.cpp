// complete: the runtime routes the tab's finished messages (done()) here
// within the node's scope; the node sends what it receives.
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

class CompleteNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;
  void OnInput(Msg msg) override { Send(std::move(msg)); }
};

}  // namespace

NodePtr MakeCompleteNode(FlowRuntime& rt, const flows::Node& def) {
  auto scope = def.props.find("scope");
  if (scope != def.props.end() && !scope->is_null() && !scope->is_array() && *scope != "group")
    return InvalidArgument("scope must be null, \"group\" or a list of node ids");
  return std::unique_ptr<RuntimeNode>(std::make_unique<CompleteNode>(rt, def));
}

}  // namespace ew::flows::nodes
