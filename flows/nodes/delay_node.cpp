// delay (Node-RED core "delay"): pauseType "delay" (fixed), "delayv" (msg.delay ms), "random"
// (between randomFirst and randomLast), "rate" (rate limit of all messages: queue, or drop the
// intermediate ones), "queue"/"timed" (rate limit per msg.topic: release one topic's newest
// message per interval in turn, or every topic's newest each interval). msg.reset empties the
// node, msg.flush releases what it holds. Queued messages are capped (kMaxQueued, oldest dropped).
#include <deque>
#include <list>
#include <map>
#include <random>

#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

constexpr size_t kMaxQueued = 10000;

class DelayNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    type_ = StrProp("pauseType", "delay");
    if (type_ == "delay") {
      delay_ = DurationIn(NumProp("timeout").value_or(5), StrProp("timeoutUnits", "seconds"));
    } else if (type_ == "random") {
      std::string units = StrProp("randomUnits", "seconds");
      first_ = DurationIn(NumProp("randomFirst").value_or(1), units);
      last_ = DurationIn(NumProp("randomLast").value_or(5), units);
      if (last_ < first_) std::swap(first_, last_);
    } else if (type_ == "rate" || type_ == "queue" || type_ == "timed") {
      double rate = NumProp("rate").value_or(1);
      double per = NumProp("nbRateUnits").value_or(1);
      if (rate <= 0 || per <= 0) return InvalidArgument("rate must be positive");
      interval_ = DurationIn(per / rate, StrProp("rateUnits", "second"));
      drop_ = BoolProp("drop");
    } else if (type_ != "delayv") {
      return InvalidArgument("pauseType \"" + type_ + "\" is not supported on boards");
    }
    return Ok();
  }

  bool completes_later() const override { return true; }

  void OnInput(Msg msg) override {
    if (msg.contains("reset")) {
      Reset();
      return;
    }
    if (msg.contains("flush")) {
      Flush();
      return;
    }
    if (type_ == "delay" || type_ == "random" || type_ == "delayv") {
      Delay(std::move(msg));
    } else if (type_ == "rate") {
      Rate(std::move(msg));
    } else {
      PerTopic(std::move(msg));
    }
  }

  void Close() override { Reset(); }

 private:
  void Delay(Msg msg) {
    auto d = delay_;
    if (type_ == "random") {
      std::uniform_int_distribution<int64_t> pick(first_.count(), last_.count());
      d = std::chrono::nanoseconds(pick(rng_));
    } else if (type_ == "delayv") {
      auto v = msg.contains("delay") ? runtime::ToNumber(msg["delay"]) : std::nullopt;
      d = DurationIn(v.value_or(0), "ms");
    }
    if (held_.size() >= kMaxQueued) {
      Warn("delay: too many messages held, dropping the oldest");
      auto& oldest = held_.front();
      CancelTimer(oldest.first);
      held_.pop_front();
    }
    auto it = held_.insert(held_.end(), {0, std::move(msg)});
    it->first = After(d, [this, it] {
      Msg m = std::move(it->second);
      held_.erase(it);
      Release(std::move(m));
    });
    UpdateStatus(held_.size());
  }

  // Node-RED: the first message goes out at once; later ones wait for their slot (queue) or are
  // dropped when they arrive within the interval (drop intermediate).
  void Rate(Msg msg) {
    if (!busy_) {
      Release(std::move(msg));
      busy_ = true;
      timer_ = After(interval_, [this] { Tick(); });
      return;
    }
    if (drop_) return;
    if (queue_.size() >= kMaxQueued) queue_.pop_front();
    queue_.push_back(std::move(msg));
    UpdateStatus(queue_.size());
  }

  void Tick() {
    if (queue_.empty()) {
      busy_ = false;
      timer_ = 0;
      UpdateStatus(0);
      return;
    }
    Release(std::move(queue_.front()));
    queue_.pop_front();
    UpdateStatus(queue_.size());
    timer_ = After(interval_, [this] { Tick(); });
  }

  void PerTopic(Msg msg) {
    std::string topic = msg.value("topic", "");
    if (!topics_.count(topic)) order_.push_back(topic);
    if (topics_.size() >= kMaxQueued && !topics_.count(topic)) return;
    topics_[topic] = std::move(msg);  // the newest per topic
    if (!timer_) timer_ = After(type_ == "queue" ? std::chrono::nanoseconds(0) : interval_, [this] { TopicTick(); });
  }

  void TopicTick() {
    timer_ = 0;
    if (topics_.empty()) return;
    if (type_ == "timed") {
      for (const auto& t : order_) Release(std::move(topics_[t]));
      topics_.clear();
      order_.clear();
    } else {
      std::string t = order_.front();
      order_.pop_front();
      Release(std::move(topics_[t]));
      topics_.erase(t);
    }
    // One more tick even when empty: the next message then waits out the rest of the interval.
    timer_ = After(interval_, [this] { TopicTick(); });
  }

  void Release(Msg msg) {
    Done(msg);
    Send(std::move(msg));
  }

  void Flush() {
    for (auto& h : held_) {
      CancelTimer(h.first);
      Release(std::move(h.second));
    }
    held_.clear();
    while (!queue_.empty()) {
      Release(std::move(queue_.front()));
      queue_.pop_front();
    }
    for (const auto& t : order_) Release(std::move(topics_[t]));
    topics_.clear();
    order_.clear();
    UpdateStatus(0);
  }

  void Reset() {
    for (auto& h : held_) CancelTimer(h.first);
    held_.clear();
    queue_.clear();
    topics_.clear();
    order_.clear();
    if (timer_) CancelTimer(timer_);
    timer_ = 0;
    busy_ = false;
  }

  void UpdateStatus(size_t n) {
    if (n == shown_) return;
    shown_ = n;
    SetStatus(n ? "blue" : "", n ? "dot" : "", n ? std::to_string(n) : "");
  }

  std::string type_;
  std::chrono::nanoseconds delay_{}, first_{}, last_{}, interval_{};
  bool drop_ = false, busy_ = false;
  std::list<std::pair<Timers::Id, Msg>> held_;
  std::deque<Msg> queue_;
  std::map<std::string, Msg> topics_;
  std::deque<std::string> order_;
  Timers::Id timer_ = 0;
  size_t shown_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

NodePtr MakeDelayNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<DelayNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
