#include "flows/nodes/mqtt_connection.hpp"

#include "flows/nodes/mosquitto_library.hpp"
#include "flows/runtime/message.hpp"

namespace ew::flows::nodes {

Result<MqttBroker> MqttBroker::FromConfig(const flows::ConfigNode& config) {
  MqttBroker b;
  const auto& p = config.props;
  auto str = [&](const char* name, const std::string& fallback) {
    auto it = p.find(name);
    return it != p.end() && (it->is_string() || it->is_number()) ? runtime::ToJsString(*it) : fallback;
  };
  b.host = str("broker", "localhost");
  if (b.host.rfind("ws://", 0) == 0 || b.host.rfind("wss://", 0) == 0)
    return InvalidArgument("MQTT over WebSocket is not supported on boards");
  if (b.host.rfind("mqtt://", 0) == 0) b.host = b.host.substr(7);
  if (b.host.rfind("mqtts://", 0) == 0 || p.value("usetls", false))
    return InvalidArgument("MQTT over TLS is not supported on boards yet");
  auto port = runtime::ToNumber(p.value("port", nlohmann::json(1883)));
  if (!port || *port < 1 || *port > 65535) return InvalidArgument("broker port is not a port number");
  b.port = static_cast<int>(*port);
  b.client_id = str("clientid", "");
  auto keepalive = runtime::ToNumber(p.value("keepalive", nlohmann::json(60)));
  b.keepalive_s = keepalive && *keepalive >= 5 ? static_cast<int>(*keepalive) : 60;
  b.clean_session = p.value("cleansession", true);
  return b;
}

Result<std::unique_ptr<MqttConnection>> MqttConnection::Open(const MqttBroker& broker,
                                                              std::vector<std::pair<std::string, int>> subscriptions,
                                                              OnState on_state, OnMessage on_message) {
  EW_TRY(const MosquittoLibrary* lib, MosquittoLibrary::Get());
  std::unique_ptr<MqttConnection> c(new MqttConnection());
  c->lib_ = lib;
  c->subscriptions_ = std::move(subscriptions);
  c->on_state_ = std::move(on_state);
  c->on_message_ = std::move(on_message);
  c->client_ = lib->create(broker.client_id.empty() ? nullptr : broker.client_id.c_str(),
                           broker.client_id.empty() ? true : broker.clean_session, c.get());
  if (!c->client_) return Internal("mosquitto_new failed");
  lib->connect_callback_set(c->client_, &MqttConnection::HandleConnect);
  lib->disconnect_callback_set(c->client_, &MqttConnection::HandleDisconnect);
  lib->message_callback_set(c->client_, &MqttConnection::HandleMessage);
  lib->reconnect_delay_set(c->client_, 1, 30, true);
  int rc = lib->connect_async(c->client_, broker.host.c_str(), broker.port, broker.keepalive_s);
  // A failed first attempt (broker down) is retried by the loop thread, as Node-RED keeps trying.
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO && rc != MOSQ_ERR_EAI)
    return InvalidArgument(std::string("MQTT connect: ") + lib->strerror(rc));
  rc = lib->loop_start(c->client_);
  if (rc != MOSQ_ERR_SUCCESS) return Internal(std::string("MQTT loop: ") + lib->strerror(rc));
  return c;
}

MqttConnection::~MqttConnection() {
  if (!client_) return;
  lib_->disconnect(client_);
  lib_->loop_stop(client_, true);
  lib_->destroy(client_);
}

Result<void> MqttConnection::Publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
  int rc = lib_->publish(client_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos, retain);
  if (rc == MOSQ_ERR_NO_CONN) return Unavailable("MQTT publish: not connected to the broker");
  if (rc != MOSQ_ERR_SUCCESS) return Unavailable(std::string("MQTT publish: ") + lib_->strerror(rc));
  return Ok();
}

void MqttConnection::HandleConnect(mosquitto* m, void* self, int rc) {
  auto* c = static_cast<MqttConnection*>(self);
  if (rc == 0) {
    for (const auto& [topic, qos] : c->subscriptions_) c->lib_->subscribe(m, nullptr, topic.c_str(), qos);
  }
  if (c->on_state_) c->on_state_(rc == 0, rc == 0 ? "connected" : "refused (" + std::to_string(rc) + ")");
}

void MqttConnection::HandleDisconnect(mosquitto*, void* self, int rc) {
  auto* c = static_cast<MqttConnection*>(self);
  if (c->on_state_) c->on_state_(false, "disconnected");
}

void MqttConnection::HandleMessage(mosquitto*, void* self, const ::mosquitto_message* message) {
  auto* c = static_cast<MqttConnection*>(self);
  if (!c->on_message_ || !message->topic) return;
  std::string payload(static_cast<const char*>(message->payload), static_cast<size_t>(message->payloadlen));
  c->on_message_(message->topic, std::move(payload), message->qos, message->retain);
}

}  // namespace ew::flows::nodes
