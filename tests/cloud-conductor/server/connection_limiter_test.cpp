#include "cloud-conductor/server/connection_limiter.hpp"

#include <gtest/gtest.h>

#include "common/metrics/metrics.hpp"

namespace ew::server {
namespace {

TEST(ConnectionLimiterTest, CapsPerAddressAndInAllAndFreesOnRelease) {
  metrics::Registry registry;
  auto& gauge = registry.GetGauge("open", "");
  auto limiter = std::make_shared<ConnectionLimiter>(3, 2, &gauge);
  ConnectionLimiter::Verdict verdict;
  auto a1 = limiter->TryAcquire("10.0.0.1", &verdict);
  auto a2 = limiter->TryAcquire("10.0.0.1", &verdict);
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(limiter->TryAcquire("10.0.0.1", &verdict));
  EXPECT_EQ(verdict, ConnectionLimiter::Verdict::kAddressCap);
  auto b1 = limiter->TryAcquire("10.0.0.2", &verdict);
  ASSERT_TRUE(b1);
  EXPECT_FALSE(limiter->TryAcquire("10.0.0.3", &verdict));
  EXPECT_EQ(verdict, ConnectionLimiter::Verdict::kGlobalCap);
  EXPECT_EQ(limiter->open(), 3u);
  EXPECT_EQ(gauge.Value(), 3);
  a1.reset();
  EXPECT_EQ(limiter->open_from("10.0.0.1"), 1u);
  EXPECT_TRUE(limiter->TryAcquire("10.0.0.3", &verdict));  // released at once again
  EXPECT_EQ(limiter->open(), 2u);
  EXPECT_EQ(gauge.Value(), 2);
}

TEST(ConnectionLimiterTest, ATicketThatLeavesTheAddressCapStillCountsInAll) {
  auto limiter = std::make_shared<ConnectionLimiter>(4, 2, nullptr);
  ConnectionLimiter::Verdict verdict;
  auto tunnel1 = limiter->TryAcquire("10.0.0.1", &verdict);
  auto tunnel2 = limiter->TryAcquire("10.0.0.1", &verdict);
  ASSERT_TRUE(tunnel1 && tunnel2);
  tunnel1->LeaveAddressCap();
  tunnel1->LeaveAddressCap();  // idempotent
  tunnel2->LeaveAddressCap();
  EXPECT_EQ(limiter->open_from("10.0.0.1"), 0u);
  EXPECT_EQ(limiter->open(), 2u);
  // The address has its whole cap again for other connections; the global cap still binds.
  auto c1 = limiter->TryAcquire("10.0.0.1", &verdict);
  auto c2 = limiter->TryAcquire("10.0.0.1", &verdict);
  ASSERT_TRUE(c1 && c2);
  EXPECT_FALSE(limiter->TryAcquire("10.0.0.2", &verdict));
  EXPECT_EQ(verdict, ConnectionLimiter::Verdict::kGlobalCap);
  // Releasing a ticket that left the address cap does not free an address slot twice.
  tunnel1.reset();
  EXPECT_EQ(limiter->open_from("10.0.0.1"), 2u);
  EXPECT_FALSE(limiter->TryAcquire("10.0.0.1", &verdict));
  EXPECT_EQ(verdict, ConnectionLimiter::Verdict::kAddressCap);
  EXPECT_EQ(limiter->open(), 3u);
}

}  // namespace
}  // namespace ew::server
