// trigger (Node-RED core "trigger"): on a message sends op1 at once (unless "nul"), then after
// `duration` sends op2 (on output 2 when outputs = 2); extend restarts the wait on each message,
// otherwise messages are ignored while waiting; duration 0 waits for a reset; a negative duration
// resends op1 every |duration|. msg.reset, or a payload equal to `reset`, stops it. bytopic "topic"
// keeps one such state per msg.topic.
#include <map>

#include "flows/nodes/node_factories.hpp"
#include "flows/runtime/typed_value.hpp"

namespace ew::flows::nodes {

namespace {

using runtime::TypedValue;

class TriggerNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    op1type_ = StrProp("op1type", "str");
    op2type_ = StrProp("op2type", "str");
    if (op1type_ != "pay" && op1type_ != "nul" && op1type_ != "payl") {
      EW_TRY(op1_, TypedValue::Parse(def_.props.value("op1", nlohmann::json("1")), op1type_ == "val" ? "str" : op1type_, "op1"));
    }
    if (op2type_ != "pay" && op2type_ != "nul" && op2type_ != "payl") {
      EW_TRY(op2_, TypedValue::Parse(def_.props.value("op2", nlohmann::json("0")), op2type_ == "val" ? "str" : op2type_, "op2"));
    }
    double duration = NumProp("duration").value_or(250);
    std::string units = StrProp("units", "ms");
    resend_ = duration < 0;
    duration_ = DurationIn(duration < 0 ? -duration : duration, units);
    extend_ = BoolProp("extend");
    override_ = BoolProp("overrideDelay");
    reset_ = StrProp("reset");
    by_topic_ = StrProp("bytopic", "all") == "topic";
    second_output_ = NumProp("outputs").value_or(1) >= 2;
    return Ok();
  }

  void OnInput(Msg msg) override {
    std::string topic = by_topic_ ? msg.value("topic", "") : "";
    bool reset = msg.contains("reset") ||
                 (!reset_.empty() && msg.contains("payload") && runtime::ToJsString(msg["payload"]) == reset_);
    if (reset) {
      Stop(topic);
      return;
    }
    auto it = states_.find(topic);
    if (it != states_.end()) {
      if (extend_ && !resend_) {
        CancelTimer(it->second.timer);
        it->second.last = msg;
        it->second.timer = Schedule(topic, Wait(msg));
      } else if (op2type_ == "payl") {
        it->second.last = msg;
      }
      return;
    }
    State& state = states_[topic];
    state.first = msg;
    state.last = msg;
    if (op1type_ != "nul") Send(Output(msg, op1type_, op1_));
    if (resend_) {
      state.timer = Resend(topic);
    } else if (duration_.count() > 0 || (override_ && msg.contains("delay"))) {
      state.timer = Schedule(topic, Wait(msg));
    }
    SetStatus("blue", "dot", "");
  }

  void Close() override { states_.clear(); }

 private:
  struct State {
    Msg first, last;
    Timers::Id timer = 0;
  };

  std::chrono::nanoseconds Wait(const Msg& msg) const {
    if (override_ && msg.contains("delay")) {
      if (auto d = runtime::ToNumber(msg["delay"])) return DurationIn(*d, "ms");
    }
    return duration_;
  }

  Msg Output(const Msg& msg, const std::string& type, const std::optional<TypedValue>& value) {
    Msg out = msg;
    if (type == "pay" || type == "payl") return out;
    out["payload"] = value ? value->Evaluate(msg, rt_, def_) : nlohmann::json();
    return out;
  }

  Timers::Id Schedule(const std::string& topic, std::chrono::nanoseconds wait) {
    return After(wait, [this, topic] {
      auto it = states_.find(topic);
      if (it == states_.end()) return;
      State state = std::move(it->second);
      states_.erase(it);
      if (op2type_ != "nul") {
        const Msg& base = op2type_ == "payl" ? state.last : state.first;
        Msg out = Output(base, op2type_, op2_);
        second_output_ ? SendTo(1, std::move(out)) : Send(std::move(out));
      }
      SetStatus("", "", "");
    });
  }

  Timers::Id Resend(const std::string& topic) {
    return After(duration_, [this, topic] {
      auto it = states_.find(topic);
      if (it == states_.end()) return;
      Send(Output(it->second.last, op1type_, op1_));
      it->second.timer = Resend(topic);
    });
  }

  void Stop(const std::string& topic) {
    auto clear = [&](State& s) { CancelTimer(s.timer); };
    if (by_topic_ && !topic.empty()) {
      auto it = states_.find(topic);
      if (it != states_.end()) {
        clear(it->second);
        states_.erase(it);
      }
    } else {
      for (auto& [t, s] : states_) clear(s);
      states_.clear();
    }
    SetStatus("", "", "");
  }

  std::string op1type_, op2type_, reset_;
  std::optional<TypedValue> op1_, op2_;
  std::chrono::nanoseconds duration_{};
  bool resend_ = false, extend_ = false, override_ = false, by_topic_ = false, second_output_ = false;
  std::map<std::string, State> states_;
};

}  // namespace

NodePtr MakeTriggerNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<TriggerNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
