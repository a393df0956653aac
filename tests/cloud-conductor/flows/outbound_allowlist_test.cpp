// [flows] cloud_outbound as the cloud partitions' outbound policy: literal host:port matches only.
#include "cloud-conductor/flows/outbound_allowlist.hpp"

#include <gtest/gtest.h>

namespace ew::conductor::flows {
namespace {

TEST(OutboundAllowList, OnlyTheListedHostAndPortSpelledAsListed) {
  auto allowed = OutboundAllowList({"Broker.Example.com:1883", "10.0.0.5:80", "[fd00::1]:8080"});
  EXPECT_TRUE(allowed("broker.example.com", 1883));  // host names ignore case
  EXPECT_TRUE(allowed("BROKER.EXAMPLE.COM", 1883));
  EXPECT_TRUE(allowed("10.0.0.5", 80));
  EXPECT_TRUE(allowed("fd00::1", 8080));  // as URLs give IPv6 hosts: without brackets
  EXPECT_TRUE(allowed("FD00::1", 8080));
  // Another port, another host, another spelling of a listed address: refused.
  for (auto [host, port] : std::vector<std::pair<std::string, uint16_t>>{{"broker.example.com", 8883},
                                                                         {"10.0.0.5", 8080},
                                                                         {"10.0.0.6", 80},
                                                                         {"010.0.0.5", 80},
                                                                         {"fd00:0::1", 8080},
                                                                         {"127.0.0.1", 80},
                                                                         {"169.254.169.254", 80},
                                                                         {"", 80}}) {
    auto refused = allowed(host, port);
    ASSERT_FALSE(refused) << host << ":" << port;
    EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(refused.error().message.find("cloud_outbound"), std::string::npos) << refused.error().message;
  }
}

TEST(OutboundAllowList, EmptyRefusesEverything) {
  auto none = OutboundAllowList({});
  EXPECT_FALSE(none("localhost", 1883));
  EXPECT_FALSE(none("example.com", 80));
}

}  // namespace
}  // namespace ew::conductor::flows
