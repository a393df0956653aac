// HashPool: jobs run off the caller's thread, the queue is bounded.
#include "cloud-conductor/auth/hash_pool.hpp"

#include <future>

#include <gtest/gtest.h>

namespace ew::auth {
namespace {

TEST(HashPoolTest, RefusesPastItsQueueAndRecoversWhenItDrains) {
  HashPool pool(HashPoolOptions{1, 3});
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pool.TryPost([gate, &ran] {
      gate.wait();
      ++ran;
    }));
  }
  EXPECT_EQ(pool.Pending(), 3u);
  EXPECT_FALSE(pool.TryPost([&ran] { ran += 100; })) << "three waiting or running: full";
  release.set_value();
  pool.Join();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_EQ(pool.Pending(), 0u);
}

TEST(HashPoolTest, AThrowingJobDoesNotStopThePool) {
  HashPool pool(HashPoolOptions{1, 4});
  std::promise<int> done;
  ASSERT_TRUE(pool.TryPost([] { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(pool.TryPost([&done] { done.set_value(7); }));
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(future.get(), 7);
}

}  // namespace
}  // namespace ew::auth
