// UidPool: leases are exclusive within a process and across processes (flock on a shared
// directory), come back when released or when their holder dies, and run out with a clear error.
#include "containers/runtime/uid_pool.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include <gtest/gtest.h>

#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

TEST(UidPoolTest, LeasesAreDistinctUntilReleased) {
  testing::TempDir dir("ew-uids");
  UidPool pool(500000, 3, dir / "locks");
  std::vector<UidPool::Lease> leases;
  std::set<uid_t> seen;
  for (int i = 0; i < 3; ++i) {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease) << lease.error().message;
    EXPECT_GE(lease->uid(), 500000u);
    EXPECT_LT(lease->uid(), 500003u);
    seen.insert(lease->uid());
    leases.push_back(std::move(*lease));
  }
  EXPECT_EQ(seen.size(), 3u);
  auto none = pool.Acquire();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kResourceExhausted);
  const uid_t freed = leases[1].uid();
  leases[1] = UidPool::Lease();
  auto again = pool.Acquire();
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->uid(), freed);
}

TEST(UidPoolTest, TwoPoolsOnOneDirectoryNeverShareAUid) {
  // Two daemons of one host: separate UidPool objects (here in one process) on the same locks.
  testing::TempDir dir("ew-uids");
  UidPool a(500000, 2, dir / "locks"), b(500000, 2, dir / "locks");
  auto first = a.Acquire();
  auto second = b.Acquire();
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->uid(), second->uid());
  EXPECT_FALSE(b.Acquire());
}

TEST(UidPoolTest, ALeaseHeldByAnotherProcessIsSkippedAndFreedWhenItDies) {
  testing::TempDir dir("ew-uids");
  int ready[2], done[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(done[1]);  // else the read below never sees the parent's close
    UidPool pool(500000, 1, dir / "locks");
    auto lease = pool.Acquire();
    char c = lease ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    (void)!read(done[0], &c, 1);  // hold until told
    _exit(0);
  }
  close(ready[1]);
  close(done[0]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  UidPool pool(500000, 1, dir / "locks");
  EXPECT_FALSE(pool.Acquire());  // the other process holds the only uid
  close(done[1]);                 // it exits: the kernel drops its lock
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(pool.Acquire());
  close(ready[0]);
}

TEST(UidPoolTest, UnlockedLeaseCarriesTheUid) {
  auto lease = UidPool::Lease::Unlocked(1234);
  EXPECT_TRUE(lease.valid());
  EXPECT_EQ(lease.uid(), 1234u);
  EXPECT_FALSE(UidPool::Lease().valid());
}

}  // namespace
}  // namespace ew::containers
