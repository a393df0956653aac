#include "common/url/url.hpp"

#include <gtest/gtest.h>

namespace ew::url {
namespace {

TEST(UrlTest, SchemesAndDefaultPorts) {
  auto http = ParseUrl("http://conductor.example");
  ASSERT_TRUE(http);
  EXPECT_EQ(http->scheme, "http");
  EXPECT_EQ(http->host, "conductor.example");
  EXPECT_EQ(http->port, 80);
  EXPECT_EQ(http->target, "/");
  EXPECT_FALSE(http->is_secure());
  EXPECT_EQ(ParseUrl("https://h")->port, 443);
  EXPECT_EQ(ParseUrl("ws://h")->port, 80);
  EXPECT_EQ(ParseUrl("WSS://h")->scheme, "wss");
  EXPECT_TRUE(ParseUrl("wss://h")->is_secure());
}

TEST(UrlTest, Ports) {
  EXPECT_EQ(ParseUrl("http://h:1")->port, 1);
  EXPECT_EQ(ParseUrl("http://h:65535")->port, 65535);
  EXPECT_EQ(ParseUrl("http://h:08080")->port, 8080);
  EXPECT_EQ(ParseUrl("http://127.0.0.1:8080/x")->Authority(), "127.0.0.1:8080");
}

TEST(UrlTest, Ipv6Literals) {
  auto v6 = ParseUrl("wss://[::1]:9443/ws");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9443);
  EXPECT_EQ(v6->Authority(), "[::1]:9443");
  EXPECT_EQ(v6->ToString(), "wss://[::1]:9443/ws");
  auto no_port = ParseUrl("http://[2001:db8::7]/api");
  ASSERT_TRUE(no_port);
  EXPECT_EQ(no_port->host, "2001:db8::7");
  EXPECT_EQ(no_port->port, 80);
  EXPECT_EQ(ParseUrl("http://[::ffff:127.0.0.1]:80")->host, "::ffff:127.0.0.1");
}

TEST(UrlTest, PathsQueriesAndFragments) {
  EXPECT_EQ(ParseUrl("http://h/")->target, "/");
  EXPECT_EQ(ParseUrl("http://h/edgewire/api/")->target, "/edgewire/api/");
  EXPECT_EQ(ParseUrl("ws://h/ws?x=1")->target, "/ws?x=1");
  EXPECT_EQ(ParseUrl("http://h?x=1")->target, "/?x=1");
  EXPECT_EQ(ParseUrl("http://h/a#frag")->target, "/a");
  EXPECT_EQ(ParseUrl("http://h#frag")->target, "/");
  EXPECT_EQ(ParseUrl("http://h:8080/a/b")->ToString(), "http://h:8080/a/b");
}

TEST(UrlTest, BadInputIsInvalidArgumentQuotingTheText) {
  for (const char* bad :
       {"", "conductor:8080", "://h", "ftp://h", "http://", "http://:80", "http://h:", "http://h:0", "http://h:65536",
        "http://h:123456", "http://h:8o", "http://h:-1", "http://user@h", "http://u:p@h", "http://[::1",
        "http://[::1]x", "http://[::1]:", "http://[]", "http://[not-an-ip]", "http://::1:8080", "http://h st",
        "http://h\tx", "http://a\\b", "http://h\n.example"}) {
    auto url = ParseUrl(bad);
    EXPECT_FALSE(url) << bad;
    if (!url) {
      EXPECT_EQ(url.error().code, ErrorCode::kInvalidArgument) << bad;
      EXPECT_NE(url.error().message.find("bad URL \""), std::string::npos) << url.error().message;
    }
  }
}

}  // namespace
}  // namespace ew::url
