#include "cloud-conductor/tunnels/source_filter.hpp"

#include <gtest/gtest.h>

namespace ew::conductor::tunnels {
namespace {

boost::asio::ip::address A(const char* text) { return boost::asio::ip::make_address(text); }

TEST(SourceFilter, EmptyAllowsEveryone) {
  auto filter = SourceFilter::Parse({});
  ASSERT_TRUE(filter);
  EXPECT_TRUE(filter->Allows(A("203.0.113.9")));
  EXPECT_TRUE(filter->Allows(A("2001:db8::1")));
}

TEST(SourceFilter, NetworksAndSingleAddresses) {
  auto filter = SourceFilter::Parse({"10.0.0.0/8", "192.168.1.7", "fd00::/8", "2001:db8::5"});
  ASSERT_TRUE(filter) << filter.error().message;
  EXPECT_TRUE(filter->Allows(A("10.200.3.4")));
  EXPECT_FALSE(filter->Allows(A("11.0.0.1")));
  EXPECT_TRUE(filter->Allows(A("192.168.1.7")));
  EXPECT_FALSE(filter->Allows(A("192.168.1.8")));
  EXPECT_TRUE(filter->Allows(A("fd12::1")));
  EXPECT_TRUE(filter->Allows(A("2001:db8::5")));
  EXPECT_FALSE(filter->Allows(A("2001:db8::6")));
  EXPECT_FALSE(filter->Allows(A("127.0.0.1")));
  // An IPv4 client on a dual-stack listener.
  EXPECT_TRUE(filter->Allows(A("::ffff:10.1.2.3")));
  EXPECT_FALSE(filter->Allows(A("::ffff:11.1.2.3")));
}

TEST(SourceFilter, MalformedEntriesAreRefusedByName) {
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "nonsense", "300.1.1.1", "fd00::1/8", "", "10.0.0.0/"}) {
    auto filter = SourceFilter::Parse({bad});
    ASSERT_FALSE(filter) << bad;
    EXPECT_EQ(filter.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(filter.error().message.find("allowCidrs"), std::string::npos);
  }
  EXPECT_FALSE(SourceFilter::Parse(std::vector<std::string>(kMaxCidrs + 1, "10.0.0.0/8")));
}

// Review 2, finding 2: a wide allowlist is no allowlist; a non-admin may not list one.
TEST(SourceFilter, Issue17WideNetworksAreNotANonAdminsToList) {
  for (const char* wide : {"0.0.0.0/0", "::/0", "1.0.0.0/8", "8.8.0.0/16", "203.0.112.0/23", "2001:db8::/32",
                           "2000::/3", "0.0.0.0/1"}) {
    auto filter = SourceFilter::Parse({"192.168.1.0/24", wide});
    ASSERT_TRUE(filter) << wide << ": " << filter.error().message;
    auto verdict = filter->CheckUserMayList();
    ASSERT_FALSE(verdict) << wide;
    EXPECT_EQ(verdict.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(verdict.error().message.find("allowCidrs"), std::string::npos) << verdict.error().message;
  }
  // Private, loopback, link-local and shared ranges at any width within them; public ones up to
  // /24 and /48; single addresses.
  auto fine = SourceFilter::Parse({"10.1.0.0/16", "172.16.0.0/16", "192.168.0.0/16", "100.64.0.0/16", "127.0.0.0/16",
                                   "169.254.0.0/16", "10.9.8.0/24", "fd00::/8", "fc00::/7", "fe80::/10", "::1", "203.0.113.0/24",
                                   "198.51.100.7", "2001:db8:1::/48", "2001:db8::5"});
  ASSERT_TRUE(fine) << fine.error().message;
  EXPECT_TRUE(fine->CheckUserMayList()) << fine->CheckUserMayList().error().message;
  // Wider than a private range is not inside it.
  for (const char* over : {"172.0.0.0/8", "192.0.0.0/8", "fc00::/6", "100.0.0.0/9"}) {
    auto filter = SourceFilter::Parse({over});
    ASSERT_TRUE(filter) << over;
    EXPECT_FALSE(filter->CheckUserMayList()) << over;
  }
  // Review L3: inside a private IPv4 range, nothing wider than a /16.
  for (const char* wide_private : {"10.0.0.0/8", "172.16.0.0/12", "100.64.0.0/10", "127.0.0.0/8", "10.0.0.0/15",
                                   "192.168.0.0/15"}) {
    auto filter = SourceFilter::Parse({"10.1.0.0/16", wide_private});
    ASSERT_TRUE(filter) << wide_private;
    auto verdict = filter->CheckUserMayList();
    ASSERT_FALSE(verdict) << wide_private;
    EXPECT_NE(verdict.error().message.find("/16"), std::string::npos) << verdict.error().message;
  }
  EXPECT_TRUE(SourceFilter::Parse({})->CheckUserMayList());
}

}  // namespace
}  // namespace ew::conductor::tunnels
