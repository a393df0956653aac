// CloudRuntime's lifetime against the blocking pool it posts to (issue 14 review): work queued
// on the pool when the runtime is destroyed must not touch it. Projects share the host's run
// slots (issue 18 review M3).
#include "cloud-conductor/functions/cloud_runtime.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <future>
#include <new>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

#include "common/ids/ids.hpp"
#include "containers/package/package.hpp"
#include "tests/support/fake_container_runtime.hpp"

namespace ew::functions {
namespace {

using namespace std::chrono_literals;

class CloudRuntimeTest : public ::testing::Test {
 protected:
  CloudRuntimeTest() { std::filesystem::create_directories(dir_); }
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

  // Initialised here, before packages_ (a path set in the constructor's body came too late: the
  // store was "packages" under the working directory).
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("ew-cloud-runtime-" + std::to_string(::getpid()));
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

// A cloud host of one run slot over the fake runtime; functions of two projects. Before: the
// host's queue was one FIFO, so project B's call waited behind every call project A had queued
// (and its queue time counted in B's cloud statistics). Now each function is installed with its
// project as the host's tenant, and the freed slot goes to B.
TEST_F(CloudRuntimeTest, Issue18ReviewM3_AProjectDoesNotWaitBehindAnotherProjectsQueue) {
  auto state = std::make_shared<containers::testing::FakeRuntimeState>();
  state->hold = true;
  CloudRuntimeOptions options = Options();
  options.runtime = "auto";
  options.max_running = 1;
  options.make_runtime =
      [state](const containers::RuntimeConfig&) -> Result<std::unique_ptr<containers::ContainerRuntime>> {
    return std::unique_ptr<containers::ContainerRuntime>(new containers::testing::FakeRuntime(state));
  };
  // One package serves both functions.
  const std::filesystem::path src = dir_ / "src";
  std::filesystem::create_directories(src);
  std::ofstream(src / "function.json")
      << R"({"name": "f", "version": "1.0.0", "runtime": "sh", "entrypoint": "main.sh"})";
  std::ofstream(src / "main.sh") << "echo '{}'\n";
  std::filesystem::permissions(src / "main.sh", std::filesystem::perms(0755));
  auto bytes = containers::PackDirectory(src);
  ASSERT_TRUE(bytes) << bytes.error().message;
  FunctionVersion version;
  version.sha256 = ids::Sha256Hex(*bytes);
  version.spec.name = "f";
  version.spec.version = "1.0.0";
  version.spec.runtime = containers::Runtime::kSh;
  version.spec.entrypoint = "main.sh";
  version.spec.max_concurrency = 8;
  ASSERT_TRUE(packages_.Create());
  ASSERT_TRUE(packages_.Put(version.sha256, *bytes));

  // One pool thread: the runs reach the host in the order they were made.
  boost::asio::thread_pool pool(1);
  CloudRuntime runtime(options, packages_, pool, timers_.get_executor());
  std::mutex mu;
  std::condition_variable answered_cv;
  size_t answered = 0;
  auto run = [&](const std::string& function_id, const std::string& project_id, const std::string& call) {
    runtime.Run(function_id, project_id, version, {{"call", call}}, 60s, [&](InvocationOutcome outcome) {
      EXPECT_FALSE(outcome.error) << outcome.error->message;
      std::lock_guard<std::mutex> lock(mu);
      ++answered;
      answered_cv.notify_all();
    });
  };
  for (int i = 0; i < 3; ++i) run("fn-a", "prj-a", "a#" + std::to_string(i));
  run("fn-b", "prj-b", "b#0");
  // Every run is in the host once the pool's thread got past them.
  std::promise<void> drained;
  boost::asio::post(pool, [&drained] { drained.set_value(); });
  ASSERT_EQ(drained.get_future().wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(state->WaitFor([&] { return state->held == 1; }));

  state->Release(1);
  ASSERT_TRUE(state->WaitFor([&] { return state->inputs.size() == 2; }));
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    EXPECT_EQ(nlohmann::json::parse(state->inputs[0])["call"], "a#0");
    EXPECT_EQ(nlohmann::json::parse(state->inputs[1])["call"], "b#0") << "project B waited behind project A's queue";
  }
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    state->hold = false;
  }
  state->Release(10);
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(answered_cv.wait_for(lock, 10s, [&] { return answered == 4; }));
  }
  runtime.Shutdown();
  pool.join();
}

}  // namespace
}  // namespace ew::functions
