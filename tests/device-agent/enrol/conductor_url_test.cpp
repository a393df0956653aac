#include "device-agent/enrol/conductor_url.hpp"

#include <gtest/gtest.h>

namespace ew::agent {
namespace {

TEST(ConductorUrlTest, ParsesTheShapesTheAgentUses) {
  auto url = ParseUrl("http://conductor.example:8080");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->scheme, "http");
  EXPECT_EQ(url->host, "conductor.example");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->target, "/");

  url = ParseUrl("WS://127.0.0.1/ws?x=1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->scheme, "ws");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->target, "/ws?x=1");

  url = ParseUrl("wss://[::1]:9443/ws");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 9443);
  EXPECT_EQ(url->Authority(), "[::1]:9443");
  EXPECT_TRUE(url->is_secure());
  EXPECT_EQ(ParseUrl("https://h")->port, 443);
}

TEST(ConductorUrlTest, RejectsWhatItCannotUse) {
  for (const char* bad : {"", "conductor:8080", "ftp://h", "http://", "http://:80", "http://h:", "http://h:0",
                          "http://h:65536", "http://h:8o", "http://user@h", "http://[::1", "http://[::1]x"}) {
    auto url = ParseUrl(bad);
    EXPECT_FALSE(url) << bad;
    if (!url) {
      EXPECT_EQ(url.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(ConductorUrlTest, WampUrlForConductorUrls) {
  EXPECT_EQ(*WampUrlFor("http://127.0.0.1:8080"), "ws://127.0.0.1:8080/ws");
  EXPECT_EQ(*WampUrlFor("http://h:8080/"), "ws://h:8080/ws");
  EXPECT_EQ(*WampUrlFor("https://h/edgewire/"), "wss://h:443/edgewire/ws");
  EXPECT_EQ(*WampUrlFor("ws://h:1/custom"), "ws://h:1/custom");
  EXPECT_FALSE(WampUrlFor("nonsense"));
}

// Issue 11: plain ws/http carried the board's secret and commands in clear to any host.
TEST(ConductorUrlTest, Issue11PlainTransportOnlyToLoopbackUnlessInsecure) {
  auto allowed = [](const char* url, bool insecure) { return CheckPlainTransportAllowed(*ParseUrl(url), insecure); };
  EXPECT_TRUE(allowed("ws://127.0.0.1:8080/ws", false));
  EXPECT_TRUE(allowed("http://localhost:8080", false));
  EXPECT_TRUE(allowed("ws://[::1]:8080/ws", false));
  EXPECT_TRUE(allowed("wss://conductor.example/ws", false));
  EXPECT_TRUE(allowed("https://10.0.0.1:8443", false));
  EXPECT_TRUE(allowed("ws://10.0.0.1:8080/ws", true));
  EXPECT_TRUE(allowed("http://conductor.example", true));

  auto refused = allowed("ws://10.0.0.1:8080/ws", false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("--insecure"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("wss://"), std::string::npos) << refused.error().message;
  refused = allowed("http://conductor.example:8080", false);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("https://"), std::string::npos) << refused.error().message;
}

TEST(ConductorUrlTest, HttpsEnrolmentNeverLeadsToPlainWs) {
  auto https = *ParseUrl("https://conductor.example:8443");
  auto http = *ParseUrl("http://127.0.0.1:8080");
  EXPECT_EQ(*SecureWampUrl("ws://conductor.example:8443/ws", https), "wss://conductor.example:8443/ws");
  EXPECT_EQ(*SecureWampUrl("wss://other.example/ws", https), "wss://other.example/ws");
  EXPECT_EQ(*SecureWampUrl("ws://127.0.0.1:8080/ws", http), "ws://127.0.0.1:8080/ws");
  EXPECT_FALSE(SecureWampUrl("nonsense", https));
}

}  // namespace
}  // namespace ew::agent
