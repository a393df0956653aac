// The one loopback check (common/net), used by the conductor's listener and the agent's URLs.
#include "common/net/loopback.hpp"

#include <gtest/gtest.h>

namespace ew::net {
namespace {

TEST(LoopbackTest, TheMachineItself) {
  for (const char* host : {"localhost", "LOCALHOST", "localhost.", "LocalHost", "127.0.0.1", "127.0.0.2", "127.1.2.3",
                           "127.255.255.254", "127.255.255.255", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1",
                           "::FFFF:127.9.8.7"})
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
}

TEST(LoopbackTest, EverythingElse) {
  for (const char* host : {"10.0.0.1", "192.168.1.2", "128.0.0.1", "126.255.255.255", "0.0.0.0", "::", "::2",
                           "::ffff:10.0.0.1", "::ffff:128.0.0.1", "fe80::1", "conductor.example", "localhost.example",
                           "mylocalhost", "127.0.0.1.nip.io", "1.127.0.0.1", "127.0.0.1:80", "[::1]", "", "."})
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
}

}  // namespace
}  // namespace ew::net
