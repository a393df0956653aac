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

}  // namespace
}  // namespace ew::server
