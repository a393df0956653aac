// The proxy path parser (security review L1): one reading of board, port and upstream path for
// the server and the caller check alike; percent-encoded board or port segments refused.
#include "cloud-conductor/server/proxy_target.hpp"

#include <gtest/gtest.h>

namespace ew::server {
namespace {

TEST(ProxyTargetTest, SplitsBoardPortAndUpstream) {
  auto t = ParseProxyTarget("/v1/boards/brd-1a/proxy/8080/status/page?x=1");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->board_id, "brd-1a");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->upstream, "/status/page?x=1");
  EXPECT_EQ(t->prefix, "/v1/boards/brd-1a/proxy/8080");
  EXPECT_EQ(ParseProxyTarget("/v1/boards/b/proxy/80")->upstream, "/");
  EXPECT_EQ(ParseProxyTarget("/v1/boards/b/proxy/80?a=b")->upstream, "/?a=b");
  EXPECT_EQ(ParseProxyTarget("/v1/boards/b/proxy/80/a%20b")->upstream, "/a%20b");  // the rest stays raw
}

TEST(ProxyTargetTest, RefusesEncodedOrBadSegments) {
  for (const char* target : {"/v1/boards/b/proxy/%31%38%39%33%32/", "/v1/boards/%62rd/proxy/80/",
                             "/v1/boards/b/proxy/0/", "/v1/boards/b/proxy/65536/", "/v1/boards/b/proxy/+80/", "/v1/boards/b/proxy/080/",
                             "/v1/boards/b/proxy//", "/v1/boards/b/proxy/123456/", "/v1/boards/b%2Fc/proxy/80/"}) {
    auto t = ParseProxyTarget(target);
    ASSERT_FALSE(t) << target;
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument) << target;
    EXPECT_TRUE(IsProxyTarget(target)) << target;  // the proxy refuses it, not the REST routes
  }
  EXPECT_FALSE(IsProxyTarget("/v1/boards/b/%70roxy/80/"));
  EXPECT_FALSE(IsProxyTarget("/v1/boards//proxy/80/"));
  EXPECT_FALSE(IsProxyTarget("/v1/boards/b"));
}

}  // namespace
}  // namespace ew::server
