// mqtt in / mqtt out against a real mosquitto broker the test starts on 127.0.0.1 (a free port).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "flows/nodes/mqtt_connection.hpp"
#include "tests/flows/support/flow_harness.hpp"
#include "tests/support/tls_test_pki.hpp"

extern char** environ;

namespace ew::flows::testing {
namespace {

constexpr const char* kMosquitto = "/usr/sbin/mosquitto";

uint16_t FreePort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

class Broker {
 public:
  // `listener_options`: lines for the listener (TLS files, require_certificate).
  bool Start(const std::string& listener_options = "") {
    port_ = FreePort();
    static int instance = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("ew-mqtt-" + std::to_string(getpid()) + "-" + std::to_string(++instance));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "mosquitto.conf") << "listener " << port_ << " 127.0.0.1\n"
                                           << listener_options << "allow_anonymous true\npersistence false\n";
    std::string conf = (dir_ / "mosquitto.conf").string();
    const char* argv[] = {kMosquitto, "-c", conf.c_str(), nullptr};
    if (posix_spawn(&pid_, kMosquitto, nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return false;
    for (int i = 0; i < 200; ++i) {  // up to 2 s for the listener
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      boost::system::error_code ec;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) return true;
      usleep(10'000);
    }
    return false;
  }
  ~Broker() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::filesystem::path dir_;
};

flows::ConfigNode BrokerConfig(uint16_t port) {
  flows::ConfigNode c;
  c.id = "broker1";
  c.type = "mqtt-broker";
  c.props = {{"broker", "127.0.0.1"}, {"port", std::to_string(port)}, {"keepalive", "60"}, {"cleansession", true}};
  return c;
}

// mqtt in help: "msg.payload ... parsed JSON object if it can be" (auto-detect), msg.topic, qos,
// retain; mqtt out publishes msg.payload (objects as JSON) to the node's topic or msg.topic.
TEST(MqttNodes, RoundTripThroughARealBroker) {
  if (access(kMosquitto, X_OK) != 0) GTEST_SKIP() << "mosquitto is not installed (deploy/debian-packages.txt)";
  Broker broker;
  ASSERT_TRUE(broker.Start()) << "mosquitto did not start";
  Harness h;
  h.LoadOrFail({N("in", "mqtt in", {{"got"}}, {{"broker", "broker1"}, {"topic", "ew/test/#"}, {"qos", "1"}, {"datatype", "auto-detect"}}),
                Sink("got"), N("out", "mqtt out", {}, {{"broker", "broker1"}, {"topic", ""}, {"qos", "1"}, {"retain", "false"}})},
               {BrokerConfig(broker.port())});
  // Wait for the subscription before publishing (status "connected" on the in node).
  ASSERT_TRUE(h.RunUntil([&] {
    for (auto& [node, status] : h.host.statuses)
      if (node == "in" && status.value("text", "") == "connected") return true;
    return false;
  }));
  h.runtime.DeliverTo("out", {{"topic", "ew/test/a"}, {"payload", {{"temp", 21.5}}}});
  h.runtime.DeliverTo("out", {{"topic", "ew/test/b"}, {"payload", "plain text"}});
  h.runtime.DeliverTo("out", {{"topic", "ew/test/c"}, {"payload", 42}});
  ASSERT_TRUE(h.RunUntil([&] { return h.Seen("got").size() >= 3; }));
  auto got = h.Seen("got");
  EXPECT_EQ(got[0]["topic"], "ew/test/a");
  EXPECT_EQ(got[0]["payload"]["temp"], 21.5);
  EXPECT_EQ(got[0]["qos"], 1);
  EXPECT_EQ(got[0]["retain"], false);
  EXPECT_EQ(got[1]["payload"], "plain text");
  EXPECT_EQ(got[2]["payload"], 42);
  h.runtime.Stop();
}

// The conductor's triggers share one MQTT 5 connection: each subscription's identifier comes back
// on the messages it matched (mosquitto sends one copy per matching subscription), subscriptions
// come and go while connected, and the broker's maximum packet size is read from its CONNACK.
TEST(MqttConnection5, SubscriptionIdsNameTheMatchingFilters) {
  if (access(kMosquitto, X_OK) != 0) GTEST_SKIP() << "mosquitto is not installed (deploy/debian-packages.txt)";
  Broker broker;
  ASSERT_TRUE(broker.Start("max_packet_size 4096\n")) << "mosquitto did not start";
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::string, std::vector<uint32_t>>> messages;
  std::vector<std::pair<uint32_t, bool>> subacks;
  uint32_t limit = 0;
  bool connected = false;
  auto wait_for = [&](auto done) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(5), done);
  };
  nodes::MqttCallbacks callbacks;
  callbacks.on_state = [&](bool up, const std::string&) {
    std::lock_guard<std::mutex> lock(mu);
    connected = up;
    cv.notify_all();
  };
  callbacks.on_subscribed = [&](uint32_t id, bool granted, const std::string&) {
    std::lock_guard<std::mutex> lock(mu);
    subacks.emplace_back(id, granted);
    cv.notify_all();
  };
  callbacks.on_message = [&](const nodes::MqttMessage& m) {
    std::lock_guard<std::mutex> lock(mu);
    messages.emplace_back(std::string(m.topic), m.subscription_ids);
    cv.notify_all();
  };
  bool subscription_ids = false;
  callbacks.on_connack = [&](uint32_t bytes, bool ids) {
    std::lock_guard<std::mutex> lock(mu);
    limit = bytes;
    subscription_ids = ids;
  };
  nodes::MqttBroker config;
  config.host = "127.0.0.1";
  config.port = broker.port();
  config.mqtt5 = true;
  auto shared = nodes::MqttConnection::Open(config, {{"a/#", 0}}, callbacks);
  ASSERT_TRUE(shared) << shared.error().message;
  ASSERT_TRUE(wait_for([&] { return connected; }));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(limit, 4096u);  // mosquitto's max_packet_size, from the CONNACK
    EXPECT_TRUE(subscription_ids);
    ASSERT_EQ(subacks.size(), 1u);
    EXPECT_EQ(subacks[0], std::make_pair(1u, true));  // the one given at Open: id 1
  }
  const uint32_t exact = (*shared)->Subscribe("a/b", 0);  // added while connected
  EXPECT_EQ((*shared)->Subscribe("a/b", 1), exact);        // the same filter keeps its id
  ASSERT_TRUE(wait_for([&] { return subacks.size() == 3; }));

  nodes::MqttBroker plain;
  plain.host = "127.0.0.1";
  plain.port = broker.port();
  bool publisher_up = false;
  nodes::MqttCallbacks publisher_callbacks;
  publisher_callbacks.on_state = [&](bool up, const std::string&) {
    std::lock_guard<std::mutex> lock(mu);
    publisher_up = up;
    cv.notify_all();
  };
  auto publisher = nodes::MqttConnection::Open(plain, {}, publisher_callbacks);
  ASSERT_TRUE(publisher) << publisher.error().message;
  ASSERT_TRUE(wait_for([&] { return publisher_up; }));
  ASSERT_TRUE((*publisher)->Publish("a/b", "1", 1, false));
  ASSERT_TRUE((*publisher)->Publish("a/c", "2", 1, false));
  ASSERT_TRUE(wait_for([&] { return messages.size() == 3; }));
  std::multiset<std::pair<std::string, uint32_t>> seen;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [topic, ids] : messages)
      for (uint32_t id : ids) seen.emplace(topic, id);
  }
  // a/b matched both subscriptions and each id came once; a/c only "a/#".
  EXPECT_EQ(seen, (std::multiset<std::pair<std::string, uint32_t>>{{"a/b", 1}, {"a/b", exact}, {"a/c", 1}}));

  // Unsubscribed: once a later SUBACK is back (the broker handles one connection's packets in
  // order), a/b reaches only "a/#".
  (*shared)->Unsubscribe(exact);
  (*shared)->Subscribe("z", 0);
  ASSERT_TRUE(wait_for([&] { return subacks.size() == 4; }));
  {
    std::lock_guard<std::mutex> lock(mu);
    messages.clear();
  }
  ASSERT_TRUE((*publisher)->Publish("a/b", "3", 1, false));
  ASSERT_TRUE(wait_for([&] { return messages.size() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a second copy would be here by now
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].second, std::vector<uint32_t>{1});
}

// TLS to the broker (Node-RED's mqtt-broker "use TLS" with a tls-config node whose files are
// paths on the board), against a real mosquitto TLS listener with a CA the test makes.
class MqttTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kMosquitto, X_OK) != 0) GTEST_SKIP() << "mosquitto is not installed (deploy/debian-packages.txt)";
    dir_ = std::filesystem::temp_directory_path() / ("ew-mqtt-tls-" + std::to_string(getpid()));
    pki_.emplace(dir_, "broker-ca");
    server_ = pki_->IssueServer("broker");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string TlsListener(bool require_client_certificate = false) const {
    return "cafile " + pki_->ca_file() + "\ncertfile " + server_.cert_file + "\nkeyfile " + server_.key_file + "\n" +
           (require_client_certificate ? "require_certificate true\n" : "");
  }
  static flows::ConfigNode TlsBroker(uint16_t port) {
    flows::ConfigNode c = BrokerConfig(port);
    c.props["broker"] = "localhost";  // the name in the broker's certificate
    c.props["usetls"] = true;
    c.props["tls"] = "tls1";
    return c;
  }
  static flows::ConfigNode TlsConfig(nlohmann::json props) {
    flows::ConfigNode c;
    c.id = "tls1";
    c.type = "tls-config";
    c.props = std::move(props);
    return c;
  }
  // Loads mqtt in → got and mqtt out; waits until the in node says "connected", "refused ..." or
  // "TLS: <why>"; returns whether it connected.
  static bool Connects(Harness& h, const std::vector<flows::ConfigNode>& configs) {
    h.LoadOrFail({N("in", "mqtt in", {{"got"}}, {{"broker", "broker1"}, {"topic", "ew/tls/#"}, {"qos", "1"}}),
                  Sink("got"), N("out", "mqtt out", {}, {{"broker", "broker1"}, {"topic", ""}, {"qos", "1"}})},
                 configs);
    std::string last;
    h.RunUntil([&] {
      for (auto& [node, status] : h.host.statuses)
        if (node == "in" && !status.value("text", "").empty()) last = status.value("text", "");
      return last == "connected" || last.rfind("TLS: ", 0) == 0 || last.rfind("refused", 0) == 0;
    });
    status_ = last;
    return last == "connected";
  }
  static inline std::string status_;  // the in node's status when Connects returned
  static void RoundTrip(Harness& h) {
    h.runtime.DeliverTo("out", {{"topic", "ew/tls/a"}, {"payload", "over tls"}});
    ASSERT_TRUE(h.RunUntil([&] { return !h.Seen("got").empty(); }));
    EXPECT_EQ(h.Seen("got")[0]["payload"], "over tls");
  }

  std::filesystem::path dir_;
  std::optional<ew::testing::TestPki> pki_;
  ew::testing::TestPki::Issued server_;
};

TEST_F(MqttTls, RoundTripWithTheBrokersCa) {
  Broker broker;
  ASSERT_TRUE(broker.Start(TlsListener())) << "mosquitto did not start";
  Harness h;
  ASSERT_TRUE(Connects(h, {TlsBroker(broker.port()), TlsConfig({{"ca", pki_->ca_file()}, {"verifyservercert", true}})}));
  RoundTrip(h);
  h.runtime.Stop();
}

TEST_F(MqttTls, ClientCertificateWhenTheBrokerRequiresOne) {
  Broker broker;
  ASSERT_TRUE(broker.Start(TlsListener(/*require_client_certificate=*/true))) << "mosquitto did not start";
  auto client = pki_->IssueClient("board", "greenhouse-pi");
  Harness h;
  ASSERT_TRUE(Connects(h, {TlsBroker(broker.port()), TlsConfig({{"ca", pki_->ca_file()}, {"cert", client.cert_file},
                                                                {"key", client.key_file}})}));
  RoundTrip(h);
  h.runtime.Stop();
}

TEST_F(MqttTls, ABrokerWithAnUnknownCaIsNotTrusted) {
  Broker broker;
  ASSERT_TRUE(broker.Start(TlsListener())) << "mosquitto did not start";
  ew::testing::TestPki other(dir_ / "other", "other-ca");
  Harness h;
  EXPECT_FALSE(Connects(h, {TlsBroker(broker.port()), TlsConfig({{"ca", other.ca_file()}})}));
  EXPECT_EQ(status_, "TLS: certificate verify failed");  // the node's status says why
  h.runtime.Stop();
}

TEST_F(MqttTls, VerificationOffTrustsAnyBroker) {
  Broker broker;
  ASSERT_TRUE(broker.Start(TlsListener())) << "mosquitto did not start";
  ew::testing::TestPki other(dir_ / "other", "other-ca");
  Harness h;
  ASSERT_TRUE(Connects(h, {TlsBroker(broker.port()), TlsConfig({{"ca", other.ca_file()}, {"verifyservercert", false}})}));
  RoundTrip(h);
  h.runtime.Stop();
}

TEST_F(MqttTls, WhatABoardCannotUseIsRefusedAtLoadNamingIt) {
  auto load = [](std::vector<flows::ConfigNode> configs) {
    Harness h;
    return h.Load({N("in", "mqtt in", {}, {{"broker", "broker1"}, {"topic", "x"}})}, configs);
  };
  auto refused = [&](std::vector<flows::ConfigNode> configs, const std::string& says) {
    auto loaded = load(std::move(configs));
    ASSERT_FALSE(loaded) << says;
    EXPECT_NE(loaded.error().message.find(says), std::string::npos) << loaded.error().message;
  };
  refused({TlsBroker(8883), TlsConfig({{"caname", "ca.pem"}})}, "credentials");
  refused({TlsBroker(8883), TlsConfig({{"cert", server_.cert_file}})}, "needs its key");
  refused({TlsBroker(8883), TlsConfig({{"ca", (dir_ / "absent.pem").string()}})}, "cannot read");
  refused({TlsBroker(8883), TlsConfig({{"servername", "elsewhere.example"}})}, "server name");
  refused({TlsBroker(8883)}, "tls1");  // names a tls-config the flow lacks
  // Without a tls-config node: the system's CAs, verified; it loads.
  flows::ConfigNode system_cas = TlsBroker(8883);
  system_cas.props.erase("tls");
  EXPECT_TRUE(load({system_cas}));
}

}  // namespace
}  // namespace ew::flows::testing
