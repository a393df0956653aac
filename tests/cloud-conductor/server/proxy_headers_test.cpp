// The proxied request's header filter (security review 2, finding 3): a forwarding header is
// the conductor's in every spelling a board's server may read it as, underscores included.
#include "cloud-conductor/server/proxy_headers.hpp"

#include <gtest/gtest.h>

namespace ew::server {
namespace {

TEST(ProxyHeadersTest, Issue17UnderscoreAndCaseSpellingsOfForwardingHeadersAreDropped) {
  for (const char* name : {"X-Forwarded-For", "X_Forwarded_For", "x_forwarded_host", "X-FORWARDED_PROTO",
                           "x_forwarded-port", "X_Forwarded", "Forwarded", "FORWARDED", "X_Real_IP", "x-real_ip",
                           "X-Client-IP", "True_Client_IP", "X_Cluster_Client_Ip", "x_original_forwarded_for",
                           "X-Forwarded-Prefix"}) {
    EXPECT_TRUE(IsForwardingHeader(name)) << name;
    EXPECT_TRUE(DropFromProxiedHead(name, {})) << name;
  }
  for (const char* name : {"Content-Type", "X-Forwarder", "Forwarded-By-Me", "Accept", "X-Requested-With",
                           "Cookie", "User_Agent"}) {
    EXPECT_FALSE(IsForwardingHeader(name)) << name;
  }
  EXPECT_EQ(CanonicalHeaderName("X_Forwarded-FOR"), "x-forwarded-for");
}

TEST(ProxyHeadersTest, CredentialsHopByHopAndFramingSpellings) {
  for (const char* name : {"Host", "X-Auth-Token", "X_Auth_Token", "Keep-Alive", "keep_alive", "Proxy-Connection",
                           "Proxy_Connection", "Content_Length", "Transfer_Encoding"}) {
    EXPECT_TRUE(DropFromProxiedHead(name, {})) << name;
  }
  // The real framing headers pass: the body is carried by them.
  EXPECT_FALSE(DropFromProxiedHead("Content-Length", {}));
  // Authorization goes only when it carried the caller's bearer token; Connection stays for an
  // upgrade.
  EXPECT_FALSE(DropFromProxiedHead("Authorization", {/*bearer=*/false, /*upgrade=*/false}));
  EXPECT_TRUE(DropFromProxiedHead("authorization", {/*bearer=*/true, /*upgrade=*/false}));
  EXPECT_FALSE(DropFromProxiedHead("Accept", {}));
}

// Review 3, L2: the client's Connection never reaches the board (a name listed in it, such as
// X-Forwarded-For, would be stripped by the board's server); the conductor writes its own.
// TE and Trailer always end at the conductor, Upgrade unless the request is a WebSocket upgrade.
TEST(ProxyHeadersTest, Review3HopByHopHeadersOfTheClientEndHereAndConnectionIsTheConductors) {
  for (bool upgrade : {false, true}) {
    const ProxyHeadKind kind{/*bearer=*/false, upgrade};
    for (const char* name : {"Connection", "connection", "CONNECTION", "TE", "te", "Trailer", "trailer"}) {
      EXPECT_TRUE(DropFromProxiedHead(name, kind)) << name << " upgrade=" << upgrade;
    }
  }
  EXPECT_TRUE(DropFromProxiedHead("Upgrade", {/*bearer=*/false, /*upgrade=*/false}));
  EXPECT_TRUE(DropFromProxiedHead("upgrade", {/*bearer=*/false, /*upgrade=*/false}));
  EXPECT_FALSE(DropFromProxiedHead("Upgrade", {/*bearer=*/false, /*upgrade=*/true}));
  // What a WebSocket upgrade needs passes.
  for (const char* name : {"Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol"}) {
    EXPECT_FALSE(DropFromProxiedHead(name, {/*bearer=*/false, /*upgrade=*/true})) << name;
  }
  EXPECT_EQ(ProxiedConnectionHeader({/*bearer=*/false, /*upgrade=*/true}), "Connection: Upgrade\r\n");
  EXPECT_EQ(ProxiedConnectionHeader({/*bearer=*/false, /*upgrade=*/false}), "Connection: close\r\n");
}

}  // namespace
}  // namespace ew::server
