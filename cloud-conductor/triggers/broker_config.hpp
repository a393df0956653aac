// The conductor's [triggers] broker settings as the MqttBroker that every MQTT trigger's
// connection uses. Read once at start (the password file is read here, blocking).
#pragma once

#include <optional>

#include "common/config/config.hpp"
#include "common/error/error.hpp"
#include "flows/nodes/mqtt_connection.hpp"

namespace ew::conductor::triggers {

// nullopt when mqtt_broker is "" (MQTT triggers off). InvalidArgument naming the key for a URL
// that is not mqtt(s)://host[:port], a certificate without its key (or the reverse), TLS files on
// a plain mqtt:// broker, a password file without a user name; files that cannot be read.
Result<std::optional<::ew::flows::nodes::MqttBroker>> BrokerFromConfig(const config::ConductorConfig& config);

}  // namespace ew::conductor::triggers
