// edgewire-gpio-in: watches a board GPIO line through the Host and sends
// {topic: "gpio/<line>", payload: 0|1, edge, timestamp} per edge; `read` sends the level once at
// start (edge "initial"), as Node-RED's Raspberry Pi "rpi-gpio in" does with "read initial state".
#include "flows/nodes/node_factories.hpp"
#include "flows/runtime/host.hpp"

namespace ew::flows::nodes {

namespace {

class GpioInNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    spec_.line = StrProp("line");
    if (spec_.line.empty()) return InvalidArgument("no line");
    spec_.pull = StrProp("pull", "none");
    if (spec_.pull != "none" && spec_.pull != "up" && spec_.pull != "down")
      return InvalidArgument("pull must be none, up or down");
    spec_.edge = StrProp("edge", "both");
    if (spec_.edge != "both" && spec_.edge != "rising" && spec_.edge != "falling")
      return InvalidArgument("edge must be both, rising or falling");
    double debounce = NumProp("debounce").value_or(0);
    if (debounce < 0 || debounce > 1000) return InvalidArgument("debounce must be 0..1000 ms");
    spec_.debounce = std::chrono::milliseconds(static_cast<int64_t>(debounce));
    read_ = BoolProp("read");
    return Ok();
  }

  Result<void> Start() override {
    auto alive = alive_;
    EW_TRY_VOID(host().WatchGpio(Owner(), spec_, [this, alive](runtime::GpioEdge edge) {
      if (!*alive) return;
      rt_.Post([this, alive, edge] {
        if (*alive) Emit(edge.level, edge.rising ? "rising" : "falling", edge.timestamp_ms);
      });
    }));
    SetStatus("green", "dot", "watching " + spec_.line);
    if (read_) {
      auto level = host().ReadGpio(spec_.line);
      if (level) {
        int value = *level;
        After(std::chrono::nanoseconds(0), [this, value] { Emit(value, "initial", NowMs()); });
      }
    }
    return Ok();
  }

  void OnInput(Msg) override {}

  void Close() override {
    *alive_ = false;
    host().ReleaseGpio(Owner());
  }

 private:
  void Emit(int level, const char* edge, int64_t timestamp) {
    Msg msg = runtime::NewMessage();
    msg["topic"] = "gpio/" + spec_.line;
    msg["payload"] = level;
    msg["edge"] = edge;
    msg["timestamp"] = timestamp;
    Send(std::move(msg));
  }

  runtime::GpioWatchSpec spec_;
  bool read_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

NodePtr MakeGpioInNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<GpioInNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
