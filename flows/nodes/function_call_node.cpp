// edgewire-function: invokes an Edgewire function through the Host with msg.payload as the event
// and sends the message on with msg.payload = the result; a failed call goes to catch nodes.
// At most kMaxInFlight calls run at once (kMaxWaiting more wait; beyond that messages are
// dropped and logged). Results leave in the order the messages came in, whatever order the calls
// finish in: a GPIO level must not be overtaken by an older one.
#include <deque>
#include <map>
#include <optional>

#include "flows/nodes/node_factories.hpp"
#include "flows/runtime/host.hpp"

namespace ew::flows::nodes {

namespace {

class FunctionCallNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    function_ = StrProp("function");
    if (function_.empty()) return InvalidArgument("no function");
    placement_ = StrProp("placement", "auto");
    if (placement_.empty()) placement_ = "auto";
    if (placement_ != "auto" && placement_ != "cloud" && placement_.rfind("board:", 0) != 0)
      return InvalidArgument("placement must be auto, cloud or board:<id>");
    double seconds = NumProp("timeout").value_or(30);
    if (seconds <= 0 || seconds > 3600) return InvalidArgument("timeout must be 1..3600 s");
    timeout_ = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    return Ok();
  }

  bool completes_later() const override { return true; }

  void OnInput(Msg msg) override {
    if (in_flight_ >= kMaxInFlight) {
      if (waiting_.size() >= kMaxWaiting) {
        Warn("edgewire-function: too many calls waiting, message dropped");
        return;
      }
      waiting_.push_back(std::move(msg));
      return;
    }
    Invoke(std::move(msg));
  }

  void Close() override { *alive_ = false; }

 private:
  static constexpr size_t kMaxInFlight = 8;
  static constexpr size_t kMaxWaiting = 64;

  void Invoke(Msg msg) {
    runtime::FunctionCall call;
    call.function = function_;
    call.placement = placement_;
    call.event = msg.contains("payload") ? msg["payload"] : nlohmann::json();
    call.timeout = timeout_;
    ++in_flight_;
    SetStatus("blue", "dot", "running");
    const uint64_t ticket = next_ticket_++;
    finished_[ticket];  // a slot, filled when the call returns
    auto shared = std::make_shared<Msg>(std::move(msg));
    auto alive = alive_;
    // The host answers on the runtime's thread (Host contract for the agent); a node closed
    // meanwhile (its runtime possibly gone) is not touched.
    host().InvokeFunction(call, [this, alive, shared, ticket](Result<nlohmann::json> result) {
      if (!*alive) return;
      rt_.Post([this, alive, shared, ticket, result = std::move(result)]() mutable {
        if (*alive) Finish(ticket, std::move(*shared), std::move(result));
      });
    });
  }

  void Finish(uint64_t ticket, Msg msg, Result<nlohmann::json> result) {
    --in_flight_;
    finished_[ticket] = std::make_pair(std::move(msg), std::move(result));
    // Oldest first: a call that finished early waits for the ones sent before it.
    while (!finished_.empty() && finished_.begin()->second) {
      auto [done_msg, done_result] = std::move(*finished_.begin()->second);
      finished_.erase(finished_.begin());
      Emit(std::move(done_msg), std::move(done_result));
    }
    if (!waiting_.empty() && in_flight_ < kMaxInFlight) {
      Msg next = std::move(waiting_.front());
      waiting_.pop_front();
      Invoke(std::move(next));
    }
  }

  void Emit(Msg msg, Result<nlohmann::json> result) {
    if (result) {
      msg["payload"] = std::move(*result);
      SetStatus("green", "dot", "ok");
      Done(msg);
      Send(std::move(msg));
    } else {
      SetStatus("red", "ring", result.error().message);
      Error(result.error().message, &msg);
      Done(msg);
    }
  }

  std::string function_, placement_;
  std::chrono::milliseconds timeout_{30000};
  size_t in_flight_ = 0;
  std::deque<Msg> waiting_;
  uint64_t next_ticket_ = 0;
  std::map<uint64_t, std::optional<std::pair<Msg, Result<nlohmann::json>>>> finished_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

NodePtr MakeFunctionCallNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<FunctionCallNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
