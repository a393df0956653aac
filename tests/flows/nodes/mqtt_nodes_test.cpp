// mqtt in / mqtt out against a real mosquitto broker the test starts on 127.0.0.1 (a free port).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "tests/flows/support/flow_harness.hpp"

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
  bool Start() {
    port_ = FreePort();
    dir_ = std::filesystem::temp_directory_path() / ("ew-mqtt-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "mosquitto.conf") << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\npersistence false\n";
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

TEST(MqttNodes, TlsBrokerIsRefusedAtLoad) {
  Harness h;
  flows::ConfigNode c = BrokerConfig(8883);
  c.props["usetls"] = true;
  auto loaded = h.Load({N("in", "mqtt in", {}, {{"broker", "broker1"}, {"topic", "x"}})}, {c});
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("TLS"), std::string::npos);
  EXPECT_NE(loaded.error().message.find("in"), std::string::npos);
}

}  // namespace
}  // namespace ew::flows::testing
