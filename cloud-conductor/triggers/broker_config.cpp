#include "cloud-conductor/triggers/broker_config.hpp"

#include <unistd.h>

#include "common/posix/file_io.hpp"
#include "common/url/url.hpp"

namespace ew::conductor::triggers {

Result<std::optional<::ew::flows::nodes::MqttBroker>> BrokerFromConfig(const config::ConductorConfig& c) {
  if (c.triggers_mqtt_broker.empty()) return std::optional<::ew::flows::nodes::MqttBroker>();
  const std::string& text = c.triggers_mqtt_broker;
  const bool tls = text.rfind("mqtts://", 0) == 0;
  const size_t scheme_end = text.find("://");
  if (text.rfind("mqtt://", 0) != 0 && !tls) return InvalidArgument("[triggers] mqtt_broker: must start with mqtt:// or mqtts://");
  // The one URL parser reads host and port (as http/https); MQTT's own default ports apply when
  // none is given, so look for an explicit ":port" after the host (IPv6 literals are bracketed).
  auto parsed = url::ParseUrl((tls ? "https" : "http") + text.substr(scheme_end));
  if (!parsed) return InvalidArgument("[triggers] mqtt_broker: " + parsed.error().message);
  if (parsed->target != "/") return InvalidArgument("[triggers] mqtt_broker: must be mqtt(s)://host[:port], without a path");
  const std::string authority = text.substr(scheme_end + 3, text.find_first_of("/?#", scheme_end + 3) - scheme_end - 3);
  const size_t bracket = authority.rfind(']');
  const bool explicit_port = authority.find(':', bracket == std::string::npos ? 0 : bracket) != std::string::npos;
  ::ew::flows::nodes::MqttBroker broker;
  broker.host = parsed->host;
  broker.port = explicit_port ? parsed->port : (tls ? 8883 : 1883);
  if (tls) {
    ::ew::flows::nodes::MqttTls files;
    files.ca_file = c.triggers_mqtt_ca_file;
    files.cert_file = c.triggers_mqtt_cert_file;
    files.key_file = c.triggers_mqtt_key_file;
    if (files.cert_file.empty() != files.key_file.empty())
      return InvalidArgument("[triggers] mqtt_cert_file and mqtt_key_file: give both or neither");
    for (const std::string* file : {&files.ca_file, &files.cert_file, &files.key_file}) {
      if (!file->empty() && access(file->c_str(), R_OK) != 0)
        return InvalidArgument("[triggers]: cannot read " + *file);
    }
    broker.tls = files;
  } else if (!c.triggers_mqtt_ca_file.empty() || !c.triggers_mqtt_cert_file.empty() || !c.triggers_mqtt_key_file.empty()) {
    return InvalidArgument("[triggers] mqtt_ca_file/cert_file/key_file need an mqtts:// broker");
  }
  broker.username = c.triggers_mqtt_username;
  if (!c.triggers_mqtt_password_file.empty()) {
    if (broker.username.empty()) return InvalidArgument("[triggers] mqtt_password_file needs mqtt_username");
    auto bytes = posix::ReadFileLimited(c.triggers_mqtt_password_file, 4096);
    if (!bytes) return InvalidArgument("[triggers] mqtt_password_file: " + bytes.error().message);
    broker.password = bytes->substr(0, bytes->find_first_of("\r\n"));
  }
  return std::optional<::ew::flows::nodes::MqttBroker>(std::move(broker));
}

}  // namespace ew::conductor::triggers
