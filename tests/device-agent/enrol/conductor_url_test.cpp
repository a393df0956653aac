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

}  // namespace
}  // namespace ew::agent
