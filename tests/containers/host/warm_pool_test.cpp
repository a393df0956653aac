// WarmPool over a FakeRuntime's warm instances: reuse, Retire with and without cancelling, and
// Retire while the factory is still starting an instance (the runtime's Start is held by the
// test, so each interleaving is forced, not hoped for).
#include "containers/host/warm_pool.hpp"

#include <condition_variable>
#include <future>
#include <mutex>

#include <gtest/gtest.h>

#include "tests/support/fake_container_runtime.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;
using testing::FakeRuntime;
using testing::FakeRuntimeState;

// Holds the runtime's Start (after it is entered) until Open().
class StartGate {
 public:
  Result<void> Pass() {
    std::unique_lock<std::mutex> lock(mutex_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    return Ok();
  }
  bool WaitEntered() {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, 10s, [&] { return entered_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

class WarmPoolTest : public ::testing::Test {
 protected:
  WarmPoolTest()
      : state_(std::make_shared<FakeRuntimeState>()),
        runtime_(state_),
        pool_(2, 60s, [this] { return runtime_.Start(ContainerSpec{}); }, clock_) {}

  // Acquire on another thread, held in the runtime's Start until the test opens the gate.
  std::future<Result<WarmPool::Lease>> AcquireHeldInStart() {
    state_->on_start = [this] { return gate_.Pass(); };
    auto acquired = std::async(std::launch::async, [this] { return pool_.Acquire(); });
    EXPECT_TRUE(gate_.WaitEntered());
    return acquired;
  }

  int AliveProcesses() {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->alive_processes;
  }

  std::shared_ptr<FakeRuntimeState> state_;
  FakeRuntime runtime_;
  ManualClock clock_;
  StartGate gate_;
  WarmPool pool_;
};

TEST_F(WarmPoolTest, ReleasedInstanceIsLentAgain) {
  auto first = pool_.Acquire();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->fresh);
  auto* process = first->process.get();
  pool_.Release(std::move(first->process), true);
  auto second = pool_.Acquire();
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->fresh);
  EXPECT_EQ(second->process.get(), process);
  pool_.Release(std::move(second->process), true);
  EXPECT_EQ(state_->starts.size(), 1u);
}

TEST_F(WarmPoolTest, RetireWithCancelCancelsLentInstancesAndRefusesNewCalls) {
  auto lease = pool_.Acquire();
  ASSERT_TRUE(lease);
  pool_.Retire(true);
  EXPECT_EQ(state_->cancelled, 1);
  auto refused = pool_.Acquire();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kCancelled);
  pool_.Release(std::move(lease->process), true);
  EXPECT_EQ(AliveProcesses(), 0);  // a retired pool keeps nothing
  EXPECT_EQ(pool_.Alive(), 0u);
}

// The flake of containers_host_real_test DestroyingTheHostStopsAWarmCallStuckOnARequest: the
// host was destroyed while its worker was starting the warm instance; the instance was lent out
// uncancelled and the call waited for its 120 s timeout.
TEST_F(WarmPoolTest, RetireWithCancelWhileStartingFailsTheCallAndStopsTheNewInstance) {
  auto acquired = AcquireHeldInStart();
  pool_.Retire(true);
  gate_.Open();
  ASSERT_EQ(acquired.wait_for(10s), std::future_status::ready);
  auto lease = acquired.get();
  ASSERT_FALSE(lease) << "the new instance was lent out after Retire(true)";
  EXPECT_EQ(lease.error().code, ErrorCode::kCancelled);
  EXPECT_NE(lease.error().message.find("starting a warm instance"), std::string::npos) << lease.error().message;
  EXPECT_EQ(state_->starts.size(), 1u);
  EXPECT_EQ(AliveProcesses(), 0);
  EXPECT_EQ(pool_.Alive(), 0u);
}

// A replaced version's running calls finish on the old code: an instance that was starting when
// the version was retired serves its call, then stops.
TEST_F(WarmPoolTest, RetireWithoutCancelWhileStartingLendsTheInstanceForThisCallOnly) {
  auto acquired = AcquireHeldInStart();
  pool_.Retire(false);
  gate_.Open();
  ASSERT_EQ(acquired.wait_for(10s), std::future_status::ready);
  auto lease = acquired.get();
  ASSERT_TRUE(lease) << lease.error().message;
  EXPECT_TRUE(lease->fresh);
  EXPECT_EQ(state_->cancelled, 0);
  EXPECT_EQ(pool_.Alive(), 1u);
  pool_.Release(std::move(lease->process), true);
  EXPECT_EQ(AliveProcesses(), 0);
  EXPECT_EQ(pool_.Alive(), 0u);
}

// Retire(false) first (a replacement), Retire(true) later (the host shuts down while the old
// version still starts an instance): the later cancel still reaches the starting call.
TEST_F(WarmPoolTest, CancelAfterAnEarlierRetireStillReachesAStartingCall) {
  auto acquired = AcquireHeldInStart();
  pool_.Retire(false);
  pool_.Retire(true);
  gate_.Open();
  ASSERT_EQ(acquired.wait_for(10s), std::future_status::ready);
  auto lease = acquired.get();
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error().code, ErrorCode::kCancelled);
  EXPECT_EQ(AliveProcesses(), 0);
}

}  // namespace
}  // namespace ew::containers
