// inject: sends a message at start (once, after onceDelay), every `repeat` seconds, or on a
// crontab; each message gets the properties of `props` ([{p, v, vt}]), evaluated when it is sent.
#include <vector>

#include "common/cron/cron_schedule.hpp"
#include "flows/nodes/node_factories.hpp"
#include "flows/runtime/typed_value.hpp"

namespace ew::flows::nodes {

namespace {

using runtime::PropertyPath;
using runtime::TypedValue;

class InjectNode : public RuntimeNode {
 public:
  struct Prop {
    PropertyPath path;
    TypedValue value;
  };

  InjectNode(FlowRuntime& rt, const flows::Node& def) : RuntimeNode(rt, def) {}

  Result<void> Configure() {
    auto props = def_.props.find("props");
    nlohmann::json list = props != def_.props.end() && props->is_array()
                              ? *props
                              : nlohmann::json::array({{{"p", "payload"}}, {{"p", "topic"}, {"vt", "str"}}});
    for (const auto& entry : list) {
      std::string p = entry.value("p", "");
      Prop prop;
      EW_TRY(prop.path, PropertyPath::Parse(p));
      nlohmann::json v;
      std::string vt;
      if (p == "payload" && !entry.contains("v")) {
        v = def_.props.value("payload", nlohmann::json(""));
        vt = def_.props.value("payloadType", "date");
      } else if (p == "topic" && !entry.contains("v")) {
        v = def_.props.value("topic", nlohmann::json(""));
        vt = "str";
      } else {
        v = entry.value("v", nlohmann::json(""));
        vt = entry.value("vt", "str");
      }
      EW_TRY(prop.value, TypedValue::Parse(v, vt, "property " + p));
      props_.push_back(std::move(prop));
    }
    if (auto repeat = NumProp("repeat"); repeat && *repeat > 0) {
      if (*repeat > 2147483) return InvalidArgument("repeat interval too large");
      repeat_ = std::chrono::nanoseconds(static_cast<int64_t>(*repeat * 1e9));
    }
    std::string crontab = StrProp("crontab");
    if (!crontab.empty()) {
      EW_TRY(auto schedule, cron::CronSchedule::Parse(crontab));
      cron_ = schedule;
    }
    once_ = BoolProp("once");
    once_delay_ = std::chrono::nanoseconds(static_cast<int64_t>(NumProp("onceDelay").value_or(0.1) * 1e9));
    return Ok();
  }

  Result<void> Start() override {
    if (once_) After(once_delay_, [this] {
      Fire();
      if (repeat_.count() > 0) ScheduleRepeat();
    });
    else if (repeat_.count() > 0) ScheduleRepeat();
    if (cron_) ScheduleCron();
    return Ok();
  }

  void OnInput(Msg msg) override { Fire(); }

 private:
  void ScheduleRepeat() {
    After(repeat_, [this] {
      ScheduleRepeat();
      Fire();
    });
  }

  void ScheduleCron() {
    auto next = cron_->Next(clock().Now());
    if (!next) return;
    After(*next - clock().Now(), [this] {
      ScheduleCron();
      Fire();
    });
  }

  void Fire() {
    Msg msg = runtime::NewMessage();
    for (const auto& prop : props_) prop.path.Set(msg, prop.value.Evaluate(msg, rt_, def_));
    Send(std::move(msg));
  }

  std::vector<Prop> props_;
  std::chrono::nanoseconds repeat_{0};
  std::optional<cron::CronSchedule> cron_;
  bool once_ = false;
  std::chrono::nanoseconds once_delay_{0};
};

}  // namespace

NodePtr MakeInjectNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<InjectNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
