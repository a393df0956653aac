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

}  // namespace
}  // namespace ew::conductor::tunnels
