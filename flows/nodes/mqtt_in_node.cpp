// mqtt in (Node-RED core): subscribes to `topic` (wildcards allowed) on the node's mqtt-broker
// and sends {topic, payload, qos, retain} per message. datatype: "auto-detect" (JSON if it
// parses, else a string), "auto"/"utf8" (string), "json" (parsed; an error otherwise), "buffer"
// (array of bytes). Messages arriving faster than the flow takes them are dropped at the node's
// bounded queue (FlowRuntime back-pressure).
#include "common/json/guarded_json.hpp"
#include "flows/nodes/mqtt_connection.hpp"
#include "flows/nodes/node_factories.hpp"

namespace ew::flows::nodes {

namespace {

class MqttInNode : public RuntimeNode {
 public:
  using RuntimeNode::RuntimeNode;

  Result<void> Configure() {
    EW_TRY(broker_, MqttBroker::Find(rt_, StrProp("broker")));
    EW_TRY_VOID(rt_.CheckOutbound(broker_.host, static_cast<uint16_t>(broker_.port)));
    if (StrProp("inputs", "0") == "1") return InvalidArgument("dynamic subscriptions are not supported on boards");
    topic_ = StrProp("topic");
    if (topic_.empty()) return InvalidArgument("no topic");
    qos_ = static_cast<int>(NumProp("qos").value_or(2));
    if (qos_ < 0 || qos_ > 2) return InvalidArgument("qos must be 0, 1 or 2");
    datatype_ = StrProp("datatype", "auto-detect");
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
    callbacks.on_message = [this, alive](const MqttMessage& m) {
      rt_.Post([this, alive, topic = std::string(m.topic), payload = std::string(m.payload), qos = m.qos,
                retain = m.retain]() mutable {
        if (*alive) Emit(std::move(topic), std::move(payload), qos, retain);
      });
    };
    auto connection = MqttConnection::Open(broker_, {{topic_, qos_}}, std::move(callbacks));
    if (!connection) return tl::unexpected<ew::Error>(connection.error());
    connection_ = std::move(*connection);
    SetStatus("yellow", "ring", "connecting");
    return Ok();
  }

  void OnInput(Msg msg) override {}

  void Close() override {
    *alive_ = false;
    connection_.reset();
  }

 private:
  void Emit(std::string topic, std::string payload, int qos, bool retain) {
    Msg msg = runtime::NewMessage();
    msg["topic"] = std::move(topic);
    msg["qos"] = qos;
    msg["retain"] = retain;
    if (datatype_ == "buffer") {
      nlohmann::json bytes = nlohmann::json::array();
      for (unsigned char c : payload) bytes.push_back(c);
      msg["payload"] = std::move(bytes);
    } else if (datatype_ == "json" || datatype_ == "auto-detect") {
      auto parsed = json::Parse(payload);
      if (parsed) {
        msg["payload"] = std::move(*parsed);
      } else if (datatype_ == "json") {
        msg["payload"] = payload;
        Error("Failed to parse JSON string", &msg);
        return;
      } else {
        msg["payload"] = std::move(payload);
      }
    } else {
      msg["payload"] = std::move(payload);
    }
    Send(std::move(msg));
  }

  MqttBroker broker_;
  std::string topic_, datatype_;
  int qos_ = 2;
  std::unique_ptr<MqttConnection> connection_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace

NodePtr MakeMqttInNode(FlowRuntime& rt, const flows::Node& def) {
  auto node = std::make_unique<MqttInNode>(rt, def);
  EW_TRY_VOID(node->Configure());
  return std::unique_ptr<RuntimeNode>(std::move(node));
}

}  // namespace ew::flows::nodes
