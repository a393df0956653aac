// link call: sends the message to a link in (static: the first of `links`; dynamic: msg.target,
// a link in's name or id) with an entry pushed on msg._linkSource, and sends on the message a
// link out in return mode gives back. No return within `timeout` seconds is an error (to catch).
#include <map>

#include "flows/nodes/link_return.hpp"
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

class LinkCallNode : public RuntimeNode, public LinkReturnTarget {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    dynamic_ = StrProp("linkType", "static") == "dynamic";
    if (auto links = def_.props.find("links"); links != def_.props.end() && links->is_array() && !links->empty())
      target_ = (*links)[0].is_string() ? (*links)[0].get<std::string>() : "";
    if (!dynamic_ && target_.empty()) return InvalidArgument("no link in selected");
    double seconds = NumProp("timeout").value_or(30);
    timeout_ = DurationIn(seconds > 0 ? seconds : 30, "s");
    return Ok();
  }

  bool completes_later() const override { return true; }

  void OnInput(Msg msg) override {
    std::string target = target_;
    if (dynamic_) target = Resolve(msg.value("target", ""));
    if (target.empty() || !rt_.FindNode(target)) {
      Error("link call: target link in \"" + (dynamic_ ? msg.value("target", "") : target_) + "\" not found", &msg);
      return;
    }
    std::string event = runtime::NewMessageId();
    if (!msg["_linkSource"].is_array()) msg["_linkSource"] = nlohmann::json::array();
    msg["_linkSource"].push_back({{"id", def_.id}, {"z", def_.tab}, {"event", event}});
    Msg copy = msg;
    pending_[event] = After(timeout_, [this, event, copy = std::move(copy)]() mutable {
      pending_.erase(event);
      copy["_linkSource"].erase(copy["_linkSource"].size() - 1);
      if (copy["_linkSource"].empty()) copy.erase("_linkSource");
      Error("timeout", &copy);
    });
    rt_.DeliverTo(target, std::move(msg));
  }

  void OnReturn(Msg msg) override {
    auto& stack = msg["_linkSource"];
    std::string event = stack.back().value("event", "");
    auto it = pending_.find(event);
    if (it == pending_.end()) return;  // timed out already
    CancelTimer(it->second);
    pending_.erase(it);
    stack.erase(stack.size() - 1);
    if (stack.empty()) msg.erase("_linkSource");
    Done(msg);
    Send(std::move(msg));
  }

 private:
  std::string Resolve(const std::string& name) {
    for (const auto& n : rt_.partition().nodes)
      if (n.type == "link in" && (n.id == name || n.name == name)) return n.id;
    return "";
  }

  bool dynamic_ = false;
  std::string target_;
  std::chrono::nanoseconds timeout_{};
  std::map<std::string, Timers::Id> pending_;
};

}  // namespace

NodePtr MakeLinkCallNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<LinkCallNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
