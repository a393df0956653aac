// rbe, the "filter" node (Node-RED core): "rbe" passes a message only when the property changed,
// "rbei" also blocks the first value; "deadband"/"deadbandEq" pass a number that moved more than
// (or at least) `gap` from the last one, "narrowband"/"narrowbandEq" block such jumps. `gap` may
// be a percentage of the last value. State per msg.topic (septopics); msg.reset clears it.
#include <cmath>
#include <map>

#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

class RbeNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    func_ = StrProp("func", "rbe");
    if (func_ != "rbe" && func_ != "rbei" && func_ != "deadband" && func_ != "deadbandEq" && func_ != "narrowband" &&
        func_ != "narrowbandEq")
      return InvalidArgument("mode \"" + func_ + "\" is not supported");
    std::string gap = StrProp("gap", "0");
    percent_ = !gap.empty() && gap.back() == '%';
    if (percent_) gap.pop_back();
    auto g = runtime::ToNumber(gap);
    if (!g) return InvalidArgument("gap is not a number");
    gap_ = *g;
    start_ = StrProp("start", "");
    compare_out_ = StrProp("inout", "out") == "out";
    separate_ = BoolProp("septopics", true);
    EW_TRY(path_, runtime::PropertyPath::Parse(StrProp("property", "payload")));
    EW_TRY(topic_, runtime::PropertyPath::Parse(StrProp("topi", "topic")));
    return Ok();
  }

  void OnInput(Msg msg) override {
    std::string topic;
    if (separate_) {
      const auto* t = topic_.Get(msg);
      topic = t ? runtime::ToJsString(*t) : "";
    }
    if (msg.contains("reset")) {
      if (separate_ && !topic.empty()) last_.erase(topic);
      else last_.clear();
      return;
    }
    const auto* value = path_.Get(msg);
    if (!value) return;
    if (func_ == "rbe" || func_ == "rbei") {
      auto it = last_.find(topic);
      if (it == last_.end()) {
        last_[topic] = *value;
        if (func_ == "rbei") return;
        Send(std::move(msg));
        return;
      }
      if (it->second == *value) return;
      it->second = *value;
      Send(std::move(msg));
      return;
    }
    auto n = runtime::ToNumber(*value);
    if (!n || value->is_null()) {
      Warn("filter: not a number: " + value->dump());
      return;
    }
    auto it = last_.find(topic);
    if (it == last_.end()) {
      double initial = *n;
      if (!start_.empty()) {
        if (auto s = runtime::ToNumber(start_)) initial = *s;
      }
      it = last_.emplace(topic, initial).first;
      if (start_.empty()) {
        // Node-RED: without a start value the first number passes and becomes the reference.
        Send(std::move(msg));
        return;
      }
    }
    double last = it->second.get<double>();
    double gap = percent_ ? std::fabs(last * gap_ / 100.0) : gap_;
    double diff = std::fabs(*n - last);
    bool pass;
    if (func_ == "deadband") pass = diff > gap;
    else if (func_ == "deadbandEq") pass = diff >= gap;
    else if (func_ == "narrowband") pass = diff <= gap;
    else pass = diff < gap;
    if (!compare_out_ || pass) it->second = *n;
    if (pass) Send(std::move(msg));
  }

 private:
  std::string func_, start_;
  bool percent_ = false, compare_out_ = true, separate_ = true;
  double gap_ = 0;
  runtime::PropertyPath path_, topic_;
  std::map<std::string, nlohmann::json> last_;
};

}  // namespace

NodePtr MakeRbeNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<RbeNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
