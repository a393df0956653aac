#include "cloud-conductor/triggers/broker_config.hpp"

#include <gtest/gtest.h>

namespace ew::conductor::triggers {
namespace {

config::ConductorConfig With(const std::string& url) {
  config::ConductorConfig c;
  c.triggers_mqtt_broker = url;
  return c;
}

TEST(BrokerConfig, UrlsAndDefaultPorts) {
  auto off = BrokerFromConfig(With(""));
  ASSERT_TRUE(off);
  EXPECT_FALSE(*off) << "no broker: MQTT triggers off";
  auto plain = BrokerFromConfig(With("mqtt://broker.lan"));
  ASSERT_TRUE(plain && *plain);
  EXPECT_EQ((*plain)->host, "broker.lan");
  EXPECT_EQ((*plain)->port, 1883);
  EXPECT_FALSE((*plain)->tls);
  auto tls = BrokerFromConfig(With("mqtts://broker.lan"));
  ASSERT_TRUE(tls && *tls);
  EXPECT_EQ((*tls)->port, 8883);
  EXPECT_TRUE((*tls)->tls);
  auto v6 = BrokerFromConfig(With("mqtts://[::1]:9000"));
  ASSERT_TRUE(v6 && *v6);
  EXPECT_EQ((*v6)->host, "::1");
  EXPECT_EQ((*v6)->port, 9000);
  auto v6_default = BrokerFromConfig(With("mqtt://[::1]"));
  ASSERT_TRUE(v6_default && *v6_default);
  EXPECT_EQ((*v6_default)->port, 1883);
  auto explicit_80 = BrokerFromConfig(With("mqtt://127.0.0.1:80"));
  ASSERT_TRUE(explicit_80 && *explicit_80);
  EXPECT_EQ((*explicit_80)->port, 80) << "an explicit port is kept, even http's default";
}

TEST(BrokerConfig, RefusalsNameTheKey) {
  for (const char* bad : {"http://broker", "mqtt://broker/topic", "mqtt://", "mqtt://broker:0", "mqtt://a b"}) {
    auto parsed = BrokerFromConfig(With(bad));
    ASSERT_FALSE(parsed) << bad;
    EXPECT_NE(parsed.error().message.find("mqtt_broker"), std::string::npos) << parsed.error().message;
  }
  auto c = With("mqtts://broker");
  c.triggers_mqtt_cert_file = "/etc/hostname";
  EXPECT_FALSE(BrokerFromConfig(c)) << "a certificate without its key";
  c = With("mqtt://broker");
  c.triggers_mqtt_ca_file = "/etc/hostname";
  EXPECT_FALSE(BrokerFromConfig(c)) << "TLS files on a plain broker";
  c = With("mqtt://broker");
  c.triggers_mqtt_password_file = "/etc/hostname";
  EXPECT_FALSE(BrokerFromConfig(c)) << "a password without a user";
  c.triggers_mqtt_username = "edgewire";
  c.triggers_mqtt_password_file = "/nonexistent/pw";
  EXPECT_FALSE(BrokerFromConfig(c));
}

}  // namespace
}  // namespace ew::conductor::triggers
