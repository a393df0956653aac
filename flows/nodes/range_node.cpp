// range: maps a number from [minin, maxin] to [minout, maxout] (Node-RED core "range"):
// scale (extrapolates), clamp, roll (wraps), drop (out-of-range messages are dropped); round.
#include <cmath>

#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

class RangeNode : public RuntimeNode {
 public:
  RangeNode(FlowRuntime& rt, const flows::Node& def) : RuntimeNode(rt, def) {}

  Result<void> Configure() {
    action_ = StrProp("action", "scale");
    if (action_ != "scale" && action_ != "clamp" && action_ != "roll" && action_ != "drop")
      return InvalidArgument("action \"" + action_ + "\" is not supported");
    auto get = [&](const char* name) -> Result<double> {
      auto v = NumProp(name);
      if (!v) return InvalidArgument(std::string(name) + " is not a number");
      return *v;
    };
    EW_TRY(minin_, get("minin"));
    EW_TRY(maxin_, get("maxin"));
    EW_TRY(minout_, get("minout"));
    EW_TRY(maxout_, get("maxout"));
    if (maxin_ == minin_) return InvalidArgument("minin and maxin are equal");
    round_ = BoolProp("round");
    EW_TRY(path_, runtime::PropertyPath::Parse(StrProp("property", "payload")));
    return Ok();
  }

  void OnInput(Msg msg) override {
    const auto* value = path_.Get(msg);
    auto n = value ? runtime::ToNumber(*value) : std::nullopt;
    if (!n || (value && value->is_string() && value->get_ref<const std::string&>().empty())) {
      Warn("range: not a number: " + (value ? value->dump() : std::string("undefined")));
      return;
    }
    double x = *n;
    if (action_ == "drop" && (x < minin_ || x > maxin_)) return;
    if (action_ == "clamp") x = std::min(std::max(x, minin_), maxin_);
    if (action_ == "roll") {
      double d = maxin_ - minin_;
      x = std::fmod(std::fmod(x - minin_, d) + d, d) + minin_;
    }
    double out = (x - minin_) / (maxin_ - minin_) * (maxout_ - minout_) + minout_;
    if (round_) out = std::floor(out + 0.5);  // Math.round
    path_.Set(msg, runtime::NumberJson(out));
    Send(std::move(msg));
  }

 private:
  std::string action_;
  double minin_ = 0, maxin_ = 0, minout_ = 0, maxout_ = 0;
  bool round_ = false;
  runtime::PropertyPath path_;
};

}  // namespace

NodePtr MakeRangeNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<RangeNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
