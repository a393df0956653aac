#include "flows/nodes/mqtt_connection.hpp"

#include <pthread.h>
#include <unistd.h>

#include <mqtt_protocol.h>

#include "flows/nodes/mosquitto_library.hpp"
#include "flows/runtime/flow_runtime.hpp"
#include "flows/runtime/message.hpp"

namespace ew::flows::nodes {

namespace {

// Disables the thread's cancellation for a callback's duration (the destructor cancels the loop
// thread: a cancellation point inside a callback, a log write, would unwind it holding locks).
class NoCancel {
 public:
  NoCancel() { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old_); }
  ~NoCancel() { pthread_setcancelstate(old_, nullptr); }
  NoCancel(const NoCancel&) = delete;
  NoCancel& operator=(const NoCancel&) = delete;

 private:
  int old_ = 0;
};

// A string property, "" when absent or of another type (exports are user-edited JSON).
std::string StringProp(const flows::ConfigNode& node, const char* name) {
  auto it = node.props.find(name);
  return it != node.props.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A boolean property as Node-RED's editor writes it (true or "true"); `fallback` when absent.
bool BoolProp(const flows::ConfigNode& node, const char* name, bool fallback) {
  auto it = node.props.find(name);
  if (it == node.props.end()) return fallback;
  return it->is_boolean() ? it->get<bool>() : it->is_string() && *it == "true";
}

Result<MqttTls> TlsFromConfig(const flows::ConfigNode& broker, const flows::ConfigNode* config, bool files_allowed) {
  MqttTls tls;
  if (config == nullptr) {
    const std::string id = StringProp(broker, "tls");
    if (!id.empty()) return InvalidArgument("tls-config node \"" + id + "\" is not in the flow");
    return tls;  // system CAs, verified
  }
  if (config->type != "tls-config") return InvalidArgument("\"" + config->id + "\" is not a tls-config node");
  auto str = [&](const char* name) { return StringProp(*config, name); };
  tls.ca_file = str("ca");
  tls.cert_file = str("cert");
  tls.key_file = str("key");
  if (!files_allowed && !(tls.ca_file.empty() && tls.cert_file.empty() && tls.key_file.empty()))
    return InvalidArgument("tls-config \"" + config->id + "\": this runtime reads no files named in a flow (the "
                           "conductor's files are its operator's); leave ca, cert and key empty (the system's CAs "
                           "verify the broker) or run the node on a board");
  for (const char* uploaded : {"caname", "certname", "keyname"}) {
    if (!str(uploaded).empty())
      return InvalidArgument("tls-config \"" + config->id + "\": uploaded certificates and keys are credentials, which "
                             "a flow export leaves out; give file paths on the board instead");
  }
  if (tls.cert_file.empty() != tls.key_file.empty())
    return InvalidArgument("tls-config \"" + config->id + "\": a client certificate needs its key, and a key its certificate");
  tls.verify = BoolProp(*config, "verifyservercert", true);
  for (const std::string* file : {&tls.ca_file, &tls.cert_file, &tls.key_file}) {
    if (!file->empty() && access(file->c_str(), R_OK) != 0)
      return InvalidArgument("tls-config \"" + config->id + "\": cannot read " + *file + " on this board");
  }
  return tls;
}

}  // namespace

Result<MqttBroker> MqttBroker::Find(const runtime::FlowRuntime& rt, const std::string& id) {
  const auto* config = rt.FindConfig(id);
  if (!config || config->type != "mqtt-broker") return InvalidArgument("no mqtt-broker config node \"" + id + "\"");
  const std::string tls_id = StringProp(*config, "tls");
  return FromConfig(*config, tls_id.empty() ? nullptr : rt.FindConfig(tls_id), rt.options().local_files);
}

Result<MqttBroker> MqttBroker::FromConfig(const flows::ConfigNode& config, const flows::ConfigNode* tls_config,
                                          bool files_allowed) {
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
  bool use_tls = BoolProp(config, "usetls", false);
  if (b.host.rfind("mqtts://", 0) == 0) {
    b.host = b.host.substr(8);
    use_tls = true;
  }
  if (use_tls) {
    EW_TRY(b.tls, TlsFromConfig(config, tls_config, files_allowed));
    const std::string sni = tls_config ? StringProp(*tls_config, "servername") : "";
    if (!sni.empty() && sni != b.host)
      return InvalidArgument("tls-config \"" + tls_config->id + "\": a server name other than the broker's host (" + sni +
                             ") is not supported on boards");
  }
  auto port = runtime::ToNumber(p.value("port", nlohmann::json(use_tls ? 8883 : 1883)));
  if (!port || *port < 1 || *port > 65535) return InvalidArgument("broker port is not a port number");
  b.port = static_cast<int>(*port);
  b.client_id = str("clientid", "");
  auto keepalive = runtime::ToNumber(p.value("keepalive", nlohmann::json(60)));
  b.keepalive_s = keepalive && *keepalive >= 5 ? static_cast<int>(*keepalive) : 60;
  b.clean_session = BoolProp(config, "cleansession", true);
  return b;
}

Result<std::unique_ptr<MqttConnection>> MqttConnection::Open(const MqttBroker& broker,
                                                              std::vector<std::pair<std::string, int>> subscriptions,
                                                              MqttCallbacks callbacks) {
  EW_TRY(const MosquittoLibrary* lib, MosquittoLibrary::Get());
  std::unique_ptr<MqttConnection> c(new MqttConnection());
  c->lib_ = lib;
  c->mqtt5_ = broker.mqtt5;
  c->send_retained_ = broker.send_retained;
  c->callbacks_ = std::move(callbacks);
  for (auto& [filter, qos] : subscriptions) c->subscriptions_.emplace(c->next_id_++, Subscription{std::move(filter), qos});
  c->client_ = lib->create(broker.client_id.empty() ? nullptr : broker.client_id.c_str(),
                           broker.client_id.empty() ? true : broker.clean_session, c.get());
  if (!c->client_) return Internal("mosquitto_new failed");
  if (broker.mqtt5) {
    int rc = lib->int_option(c->client_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (rc != MOSQ_ERR_SUCCESS) return Internal(std::string("MQTT 5: ") + lib->strerror(rc));
  }
  lib->connect_v5_callback_set(c->client_, &MqttConnection::HandleConnect);
  lib->disconnect_callback_set(c->client_, &MqttConnection::HandleDisconnect);
  lib->message_v5_callback_set(c->client_, &MqttConnection::HandleMessage);
  lib->subscribe_callback_set(c->client_, &MqttConnection::HandleSubscribe);
  lib->reconnect_delay_set(c->client_, 1, 30, true);
  if (!broker.username.empty()) {
    int rc = lib->username_pw_set(c->client_, broker.username.c_str(),
                                  broker.password.empty() ? nullptr : broker.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) return InvalidArgument(std::string("MQTT credentials: ") + lib->strerror(rc));
  }
  if (broker.tls) {
    const MqttTls& tls = *broker.tls;
    auto opt = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
    int rc = lib->tls_set(c->client_, opt(tls.ca_file), tls.ca_file.empty() ? "/etc/ssl/certs" : nullptr,
                          opt(tls.cert_file), opt(tls.key_file), nullptr);
    if (rc != MOSQ_ERR_SUCCESS) return InvalidArgument(std::string("MQTT TLS: ") + lib->strerror(rc));
    lib->log_callback_set(c->client_, &MqttConnection::HandleLog);
    if (!tls.verify) {
      // As Node-RED's "verify server certificate" unticked: neither the chain nor the name.
      lib->tls_opts_set(c->client_, 0 /* SSL_VERIFY_NONE */, nullptr, nullptr);
      lib->tls_insecure_set(c->client_, true);
    }
  }
  // The loop thread first, then the connect: libmosquitto 2.0.11 retries (with the backoff above)
  // only connects made while its thread runs. A connect_async before loop_start that fails (broker
  // down at start) is never retried: the node would stay disconnected after the broker came up.
  int rc = lib->loop_start(c->client_);
  if (rc != MOSQ_ERR_SUCCESS) return Internal(std::string("MQTT loop: ") + lib->strerror(rc));
  rc = lib->connect_async(c->client_, broker.host.c_str(), broker.port, broker.keepalive_s);
  // A failed first attempt (broker down, TLS handshake refused) is retried by the loop thread, as
  // Node-RED keeps trying; HandleDisconnect/HandleLog say why.
  if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO && rc != MOSQ_ERR_EAI && rc != MOSQ_ERR_TLS)
    return InvalidArgument(std::string("MQTT connect: ") + lib->strerror(rc));
  return c;
}

MqttConnection::~MqttConnection() {
  if (!client_) return;
  lib_->disconnect(client_);
  // Cancelled (a reconnect to a broker that drops packets blocks in connect() for minutes), but
  // never inside our callbacks: each runs with cancellation disabled (NoCancel), so no lock of
  // ours or of a caller is left held.
  lib_->loop_stop(client_, true);
  lib_->destroy(client_);
}

Result<void> MqttConnection::Publish(const std::string& topic, const std::string& payload, int qos, bool retain) {
  int rc = lib_->publish(client_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos, retain);
  if (rc == MOSQ_ERR_NO_CONN) return Unavailable("MQTT publish: not connected to the broker");
  if (rc != MOSQ_ERR_SUCCESS) return Unavailable(std::string("MQTT publish: ") + lib_->strerror(rc));
  return Ok();
}

uint32_t MqttConnection::Subscribe(const std::string& filter, int qos) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t id = 0;
  for (auto& [existing, sub] : subscriptions_) {
    if (sub.filter == filter) {
      id = existing;
      sub.qos = qos;
      break;
    }
  }
  if (id == 0) {
    id = next_id_++;
    subscriptions_.emplace(id, Subscription{filter, qos});
  }
  // Not connected: the next connect subscribes it (HandleConnect).
  if (connected_) SendSubscribe(id, subscriptions_.at(id), false);
  return id;
}

void MqttConnection::Unsubscribe(uint32_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;
  if (connected_) lib_->unsubscribe(client_, nullptr, it->second.filter.c_str());
  subscriptions_.erase(it);
}

void MqttConnection::SendSubscribe(uint32_t id, const Subscription& sub, bool at_connect) {
  mosquitto_property* props = nullptr;
  // The identifier the broker tags matching messages with (MQTT 5): overlapping filters on one
  // connection still say which subscription a message is for.
  if (mqtt5_) lib_->property_add_varint(&props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, id);
  int mid = 0;
  const int options = mqtt5_ && !send_retained_ ? MQTT_SUB_OPT_SEND_RETAIN_NEVER : 0;
  int rc = lib_->subscribe_v5(client_, &mid, sub.filter.c_str(), sub.qos, options, props);
  lib_->property_free_all(&props);
  if (rc != MOSQ_ERR_SUCCESS) return;  // the connection is going down: the next connect subscribes again
  pending_[mid] = PendingSubscribe{id, at_connect};
  if (at_connect) ++unacknowledged_;
}

void MqttConnection::HandleConnect(mosquitto*, void* self, int rc, int, const mosquitto_property* props) {
  NoCancel no_cancel;
  auto* c = static_cast<MqttConnection*>(self);
  if (rc == 0 && c->mqtt5_ && c->callbacks_.on_connack) {
    uint32_t max_packet = 0;
    uint8_t ids = 1;  // absent: available (MQTT 5, 3.2.2.3.12)
    if (props) {
      c->lib_->property_read_int32(props, MQTT_PROP_MAXIMUM_PACKET_SIZE, &max_packet, false);
      c->lib_->property_read_byte(props, MQTT_PROP_SUBSCRIPTION_ID_AVAILABLE, &ids, false);
    }
    c->callbacks_.on_connack(max_packet, ids != 0);
  }
  {
    std::lock_guard<std::mutex> lock(c->mu_);
    c->pending_.clear();  // SUBSCRIBEs of an earlier connection: their SUBACKs never come
    c->unacknowledged_ = 0;
    c->connected_ = rc == 0;
    if (rc == 0) {
      // "connected" once the broker acknowledged every subscription (HandleSubscribe): a message
      // published before that would not reach us, so a caller that waits for "connected" and then
      // publishes must find the subscriptions in place.
      for (const auto& [id, sub] : c->subscriptions_) c->SendSubscribe(id, sub, true);
      if (c->unacknowledged_ > 0) return;
    }
  }
  if (c->callbacks_.on_state) c->callbacks_.on_state(rc == 0, rc == 0 ? "connected" : "refused (" + std::to_string(rc) + ")");
}

void MqttConnection::HandleSubscribe(mosquitto*, void* self, int mid, int qos_count, const int* granted_qos) {
  NoCancel no_cancel;
  auto* c = static_cast<MqttConnection*>(self);
  PendingSubscribe pending;
  bool now_connected = false;
  {
    std::lock_guard<std::mutex> lock(c->mu_);
    auto it = c->pending_.find(mid);
    if (it == c->pending_.end()) return;
    pending = it->second;
    c->pending_.erase(it);
    if (pending.at_connect && c->unacknowledged_ > 0) now_connected = --c->unacknowledged_ == 0 && c->connected_;
  }
  // A granted QoS is 0..2; 0x80 and above is the broker's refusal (MQTT 5 reason codes, e.g.
  // 0x87 "Not authorized" from an ACL).
  const int code = qos_count > 0 && granted_qos ? granted_qos[0] : 0x80;
  if (c->callbacks_.on_subscribed) {
    const bool granted = code < 0x80;
    c->callbacks_.on_subscribed(pending.id, granted,
                                granted ? "subscribed" : std::string("refused by the broker: ") + c->lib_->reason_string(code));
  }
  if (now_connected && c->callbacks_.on_state) c->callbacks_.on_state(true, "connected");
}

void MqttConnection::HandleDisconnect(mosquitto*, void* self, int rc) {
  NoCancel no_cancel;
  auto* c = static_cast<MqttConnection*>(self);
  {
    std::lock_guard<std::mutex> lock(c->mu_);
    c->connected_ = false;
    c->unacknowledged_ = 0;
    c->pending_.clear();
  }
  // rc 0: we disconnected; else why the connection was lost or could not be made (for
  // MOSQ_ERR_ERRNO libmosquitto's text is errno's: "Connection refused").
  if (c->callbacks_.on_state)
    c->callbacks_.on_state(false, rc == 0 ? "disconnected" : std::string("disconnected: ") + c->lib_->strerror(rc));
}

void MqttConnection::HandleMessage(mosquitto*, void* self, const ::mosquitto_message* message,
                                   const mosquitto_property* props) {
  NoCancel no_cancel;
  auto* c = static_cast<MqttConnection*>(self);
  if (!c->callbacks_.on_message || !message->topic) return;
  MqttMessage m;
  m.topic = message->topic;
  m.payload = std::string_view(static_cast<const char*>(message->payload), static_cast<size_t>(message->payloadlen));
  m.qos = message->qos;
  m.retain = message->retain;
  uint32_t id = 0;
  for (const mosquitto_property* p = c->lib_->property_read_varint(props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &id, false);
       p != nullptr; p = c->lib_->property_read_varint(p, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &id, true))
    m.subscription_ids.push_back(id);
  if (m.subscription_ids.empty()) {
    // MQTT 3.1.1 (or a broker without identifiers): every subscription whose filter matches.
    std::lock_guard<std::mutex> lock(c->mu_);
    for (const auto& [sid, sub] : c->subscriptions_) {
      bool matches = false;
      if (c->lib_->topic_matches_sub(sub.filter.c_str(), message->topic, &matches) == MOSQ_ERR_SUCCESS && matches)
        m.subscription_ids.push_back(sid);
    }
  }
  c->callbacks_.on_message(m);
}

void MqttConnection::HandleLog(mosquitto*, void* self, int level, const char* line) {
  NoCancel no_cancel;
  auto* c = static_cast<MqttConnection*>(self);
  if (level != MOSQ_LOG_ERR || line == nullptr || !c->callbacks_.on_state) return;
  std::string text(line);
  // "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed"
  if (text.rfind("OpenSSL Error", 0) != 0) return;
  auto reason = text.rfind("::");
  c->callbacks_.on_state(false, "TLS: " + (reason == std::string::npos ? text : text.substr(reason + 2)));
}

}  // namespace ew::flows::nodes
