// mqtt out (Node-RED core): publishes msg.payload to the node's topic (or msg.topic when the node
// has none), qos and retain from the node or the message. Strings go as is, numbers and booleans
// as text, objects and arrays (a buffer as its array of bytes too) as JSON.
#include "flows/nodes/mqtt_connection.hpp"
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

class MqttOutNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    EW_TRY(broker_, MqttBroker::Find(rt_, StrProp("broker")));
    EW_TRY_VOID(rt_.CheckOutbound(broker_.host, static_cast<uint16_t>(broker_.port)));
    topic_ = StrProp("topic");
    std::string qos = StrProp("qos", "");
    if (!qos.empty()) qos_ = static_cast<int>(runtime::ToNumber(qos).value_or(0));
    std::string retain = StrProp("retain", "");
    if (!retain.empty()) retain_ = retain == "true";
    return Ok();
  }

  Result<void> Start() override {
    auto alive = alive_;
    MqttCallbacks callbacks;
    callbacks.on_state = [this, alive](bool connected, const std::string& detail) {
      rt_.Post([this, alive, connected, detail] {
        if (*alive) SetStatus(connected ? "green" : "red", connected ? "dot" : "ring", detail);
      });
    };
    auto connection = MqttConnection::Open(broker_, {}, std::move(callbacks));
    if (!connection) return tl::unexpected<ew::Error>(connection.error());
    connection_ = std::move(*connection);
    return Ok();
  }

  void OnInput(Msg msg) override {
    std::string topic = !topic_.empty() ? topic_ : msg.value("topic", "");
    if (topic.empty()) {
      Warn("mqtt out: no topic");
      return;
    }
    const auto& payload = msg.contains("payload") ? msg["payload"] : nlohmann::json();
    std::string body = payload.is_string() ? payload.get<std::string>()
                       : payload.is_structured() ? payload.dump()
                       : payload.is_null() ? std::string() : runtime::ToJsString(payload);
    int qos = qos_ ? *qos_ : static_cast<int>(runtime::ToNumber(msg.value("qos", nlohmann::json(0))).value_or(0));
    if (qos < 0 || qos > 2) qos = 0;
    bool retain = retain_ ? *retain_ : runtime::IsTruthy(msg.value("retain", nlohmann::json(false)));
    if (auto sent = connection_->Publish(topic, body, qos, retain); !sent) Error(sent.error().message, &msg);
  }

  void Close() override {
    *alive_ = false;
    connection_.reset();
  }

 private:
  MqttBroker broker_;
  std::string topic_;
  std::optional<int> qos_;
  std::optional<bool> retain_;
  std::unique_ptr<MqttConnection> connection_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

NodePtr MakeMqttOutNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<MqttOutNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
