// CloudRuntime's lifetime against the blocking pool it posts to (issue 14 review): work queued
// on the pool when the runtime is destroyed must not touch it.
#include "cloud-conductor/functions/cloud_runtime.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstring>
#include <future>
#include <new>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

namespace ew::functions {
namespace {

using namespace std::chrono_literals;

class CloudRuntimeTest : public ::testing::Test {
 protected:
  CloudRuntimeTest() {
    dir_ = std::filesystem::temp_directory_path() / ("ew-cloud-runtime-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  ~CloudRuntimeTest() override { std::filesystem::remove_all(dir_); }

  CloudRuntimeOptions Options() {
    CloudRuntimeOptions options;
    options.dir = dir_;
    options.runtime = "none";  // no containers: what is under test is where the work runs
    return options;
  }

  // Waits for `done` to have been given an outcome; the runtime answers from the pool.
  static InvocationOutcome Await(std::future<InvocationOutcome>& future) {
    EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
    return future.get();
  }

  std::filesystem::path dir_;
  PackageStore packages_{dir_ / "packages"};
  boost::asio::io_context timers_;
};

// Before: the task Run posts captured `this`, so a task still queued on the pool when the
// runtime was destroyed ran Host() on a destroyed object (a use after free; here it answered
// from the dead object's fields, "no cloud runtime: the cloud runtime has stopped"). Now it
// finds the runtime's gate closed and answers without touching it.
TEST_F(CloudRuntimeTest, Issue14WorkQueuedOnThePoolWhenTheRuntimeGoesDoesNotTouchIt) {
  boost::asio::thread_pool pool(1);
  std::promise<void> unblock;
  std::shared_future<void> unblocked = unblock.get_future().share();
  // The pool's one thread is busy: what the runtime posts waits behind this.
  boost::asio::post(pool, [unblocked] { unblocked.wait(); });

  // Storage of our own: after the runtime is destroyed its bytes stay ours to scribble on, so a
  // task that used it would read garbage, not other objects.
  alignas(CloudRuntime) unsigned char storage[sizeof(CloudRuntime)];
  auto* runtime = new (storage) CloudRuntime(Options(), packages_, pool, timers_.get_executor());
  std::promise<InvocationOutcome> answered;
  auto future = answered.get_future();
  bool ended = false;
  runtime->Run("fn-1", "prj-1", FunctionVersion{}, nlohmann::json::object(), 5s,
               [&answered](InvocationOutcome outcome) { answered.set_value(std::move(outcome)); },
               [&ended] { ended = true; });
  runtime->~CloudRuntime();
  std::memset(storage, 0x5a, sizeof(storage));

  unblock.set_value();
  InvocationOutcome outcome = Await(future);
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->code, ErrorCode::kUnavailable);
  EXPECT_EQ(outcome.error->message, "the cloud runtime has stopped");
  pool.join();
  EXPECT_TRUE(ended) << "the run is over for its caller's slot too";
}

// The same runtime, alive, answers from the pool as before: it is the destruction that closes it.
TEST_F(CloudRuntimeTest, Issue14WorkThatRunsWhileTheRuntimeLivesIsServed) {
  boost::asio::thread_pool pool(1);
  CloudRuntime runtime(Options(), packages_, pool, timers_.get_executor());
  runtime.StartProbing();  // "none": nothing posted
  std::promise<InvocationOutcome> answered;
  auto future = answered.get_future();
  runtime.Run("fn-1", "prj-1", FunctionVersion{}, nlohmann::json::object(), 5s,
              [&answered](InvocationOutcome outcome) { answered.set_value(std::move(outcome)); });
  InvocationOutcome outcome = Await(future);
  ASSERT_TRUE(outcome.error);
  EXPECT_NE(outcome.error->message.find("disabled"), std::string::npos) << outcome.error->message;
  // Shutdown twice (explicitly, then in the destructor) is fine, and Run after it answers at once.
  runtime.Shutdown();
  std::promise<InvocationOutcome> late;
  auto late_future = late.get_future();
  runtime.Run("fn-1", "prj-1", FunctionVersion{}, nlohmann::json::object(), 5s,
              [&late](InvocationOutcome outcome) { late.set_value(std::move(outcome)); });
  EXPECT_EQ(Await(late_future).error->message, "the cloud runtime has stopped");
  pool.join();
}

}  // namespace
}  // namespace ew::functions
