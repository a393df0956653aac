// FunctionHost's GPIO wiring over a FakeRuntime: a broker per cold invocation (mounts and
// environment in the container spec, lines held only while it runs), busy lines and hosts
// without GPIO failing before any container, warm instances holding their lines for their life.
#include <future>

#include <gtest/gtest.h>

#include "common/gpio/sim_chip.hpp"
#include "containers/host/function_host.hpp"
#include "tests/containers/gpio/broker_test_client.hpp"
#include "tests/containers/runtime/runtime_test_util.hpp"
#include "tests/support/fake_container_runtime.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::BrokerClient;
using testing::Eventually;
using testing::FakeRuntime;
using testing::FakeRuntimeState;

constexpr uint32_t kOut = 17;
constexpr uint32_t kIn = 4;

const BindMount* MountAt(const ContainerSpec& spec, const std::string& destination) {
  for (const auto& mount : spec.extra_mounts) {
    if (mount.destination == destination) return &mount;
  }
  return nullptr;
}

bool HasEnv(const ContainerSpec& spec, const std::string& entry) {
  return std::find(spec.env.begin(), spec.env.end(), entry) != spec.env.end();
}

class GpioHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sim = std::make_unique<gpio::SimChip>("sim0", gpio::SimChip::RaspberryPiLines());
    sim_ = sim.get();
    chips_.Add(std::move(sim), "sim");
  }
  void TearDown() override { host_.reset(); }

  void MakeHost(bool with_gpio = true) {
    HostConfig config;
    if (with_gpio) config.gpio = &chips_;
    config.gpio_socket_dir = root_.path() / "gpio";
    host_ = std::make_unique<FunctionHost>(config, std::make_unique<FakeRuntime>(state_));
  }

  void Install(const std::string& name, std::vector<GpioLineSpec> gpio, std::function<void(FunctionSpec&)> tweak = nullptr) {
    FunctionSpec spec;
    spec.name = name;
    spec.version = "1.0.0";
    spec.runtime = Runtime::kSh;
    spec.entrypoint = "main.sh";
    spec.gpio = std::move(gpio);
    if (tweak) tweak(spec);
    testing::WriteFile(code_ / name / "main.sh", "echo '{}'\n");
    auto installed = host_->Install(name, spec, code_ / name);
    ASSERT_TRUE(installed) << installed.error().message;
  }

  Result<InvocationResult> Call(const std::string& key) {
    std::promise<Result<InvocationResult>> promise;
    auto future = promise.get_future();
    host_->Invoke(key, "{}", [&promise](Result<InvocationResult> r) { promise.set_value(std::move(r)); });
    if (future.wait_for(20s) != std::future_status::ready) return Internal("no answer within 20 s");
    return future.get();
  }

  gpio::LineInfo Line(uint32_t offset) { return sim_->Lines()[offset]; }

  testing::TempDir root_{"ew-gpio-host"};
  testing::TempDir code_{"ew-gpio-host-code"};
  gpio::ChipSet chips_;
  gpio::SimChip* sim_ = nullptr;
  std::shared_ptr<FakeRuntimeState> state_ = std::make_shared<FakeRuntimeState>();
  std::unique_ptr<FunctionHost> host_;
};

TEST_F(GpioHostTest, AColdInvocationGetsABrokerForItsRun) {
  MakeHost();
  Install("blink", {{"GPIO17", GpioDirection::kOutput}, {"GPIO4", GpioDirection::kInput}});
  json during;
  state_->on_run = [&](const ContainerSpec& spec, const std::string&) -> Result<RunOutput> {
    // What the container would do, through the mounted socket directory.
    const BindMount* socket = MountAt(spec, "/run/edgewire");
    if (!socket) return Internal("no socket mount");
    BrokerClient client(socket->source / "gpio.sock");
    during["write"] = client.Call({{"op", "write"}, {"line", "GPIO17"}, {"value", 1}});
    during["level"] = *sim_->Read(kOut);
    during["consumer"] = Line(kOut).consumer;
    during["denied"] = client.Call({{"op", "write"}, {"line", "GPIO5"}, {"value", 1}})["error"]["code"];
    RunOutput out;
    out.exit_code = 0;
    out.stdout_data = "{}";
    return out;
  };
  auto result = Call("blink");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, InvocationResult::Status::kSucceeded) << result->error;
  EXPECT_EQ(during["write"], json::parse(R"({"value": 1})"));
  EXPECT_EQ(during["level"], 1);
  EXPECT_EQ(during["denied"], "permission_denied");
  std::string consumer = during["consumer"];
  EXPECT_EQ(consumer.rfind("fn:blink:inv-", 0), 0u) << consumer;

  ASSERT_EQ(state_->runs.size(), 1u);
  const ContainerSpec& spec = state_->runs[0];
  const BindMount* socket = MountAt(spec, "/run/edgewire");
  ASSERT_NE(socket, nullptr);
  EXPECT_EQ(socket->source.parent_path(), root_.path() / "gpio");
  const BindMount* clients = MountAt(spec, "/opt/edgewire");
  ASSERT_NE(clients, nullptr);
  EXPECT_EQ(clients->source, DefaultGpioClientsDir());
  EXPECT_TRUE(clients->read_only);
  EXPECT_EQ(spec.extra_mounts.size(), 2u);  // and never a chip device
  EXPECT_TRUE(HasEnv(spec, "EDGEWIRE_GPIO_SOCKET=/run/edgewire/gpio.sock"));
  EXPECT_TRUE(HasEnv(spec, "PYTHONPATH=/opt/edgewire/python"));
  EXPECT_TRUE(HasEnv(spec, "PATH=/opt/edgewire/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"));

  // Once the invocation is over: lines free, socket gone.
  EXPECT_FALSE(Line(kOut).used);
  EXPECT_FALSE(Line(kIn).used);
  EXPECT_FALSE(std::filesystem::exists(socket->source));
}

TEST_F(GpioHostTest, ABusyLineFailsTheInvocationBeforeAnyContainer) {
  MakeHost();
  Install("blink", {{"GPIO17", GpioDirection::kOutput}});
  ASSERT_TRUE(sim_->Request(kOut, {gpio::Direction::kOutput}, "api"));
  auto result = Call("blink");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kConflict);
  EXPECT_EQ(result.error().message, "line GPIO17 is busy: held by api");
  EXPECT_TRUE(state_->runs.empty());
  EXPECT_EQ(Line(kOut).consumer, "api");

  // An unknown line fails the same way, with NotFound.
  Install("lost", {{"GPIO99", GpioDirection::kInput}});
  auto lost = Call("lost");
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(state_->runs.empty());
}

TEST_F(GpioHostTest, AHostWithoutGpioRefusesFunctionsThatDeclareLines) {
  MakeHost(false);
  Install("blink", {{"GPIO17", GpioDirection::kOutput}});
  Install("warm-blink", {{"GPIO17", GpioDirection::kOutput}}, [](FunctionSpec& s) { s.warm.enabled = true; });
  for (const char* key : {"blink", "warm-blink"}) {
    auto result = Call(key);
    ASSERT_FALSE(result) << key;
    EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(result.error().message, "function " + std::string(key) + " declares GPIO lines, but this host has no GPIO");
  }
  EXPECT_TRUE(state_->runs.empty());
  EXPECT_TRUE(state_->starts.empty());
}

TEST_F(GpioHostTest, AFunctionWithoutGpioGetsNoneOfIt) {
  MakeHost();
  Install("plain", {});
  auto result = Call("plain");
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(state_->runs.size(), 1u);
  EXPECT_TRUE(state_->runs[0].extra_mounts.empty());
  for (const auto& env : state_->runs[0].env) EXPECT_EQ(env.find("EDGEWIRE_GPIO_SOCKET"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(root_.path() / "gpio"));
}

TEST_F(GpioHostTest, AFunctionWithGpioRunsOneInvocationAtATime) {
  MakeHost();
  Install("blink", {{"GPIO17", GpioDirection::kOutput}}, [](FunctionSpec& s) { s.max_concurrency = 4; });
  state_->hold = true;
  std::vector<std::future<Result<InvocationResult>>> calls;
  std::vector<std::shared_ptr<std::promise<Result<InvocationResult>>>> promises;
  for (int i = 0; i < 3; ++i) {
    auto promise = std::make_shared<std::promise<Result<InvocationResult>>>();
    calls.push_back(promise->get_future());
    host_->Invoke("blink", "{}", [promise](Result<InvocationResult> r) { promise->set_value(std::move(r)); });
  }
  ASSERT_TRUE(state_->WaitFor([&] { return state_->held == 1; }));
  EXPECT_EQ(host_->List()[0].queued, 2u);
  state_->Release(3);
  for (auto& call : calls) {
    ASSERT_EQ(call.wait_for(20s), std::future_status::ready);
    auto result = call.get();
    ASSERT_TRUE(result) << result.error().message;  // none found its line busy
  }
  EXPECT_EQ(state_->max_running, 1);
  EXPECT_FALSE(Line(kOut).used);
}

TEST_F(GpioHostTest, AWarmInstanceHoldsItsLinesForItsLife) {
  MakeHost();
  Install("warm-blink", {{"GPIO17", GpioDirection::kOutput}}, [](FunctionSpec& s) { s.warm.enabled = true; });
  for (int i = 0; i < 2; ++i) {
    auto result = Call("warm-blink");
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->status, InvocationResult::Status::kSucceeded);
  }
  ASSERT_EQ(state_->starts.size(), 1u);  // one instance served both
  const BindMount* socket = MountAt(state_->starts[0], "/run/edgewire");
  ASSERT_NE(socket, nullptr);
  // Idle between calls, the instance still holds its line and serves its socket.
  std::string consumer = Line(kOut).consumer;
  EXPECT_EQ(consumer.rfind("fn:warm-blink:warm-", 0), 0u) << consumer;
  BrokerClient client(socket->source / "gpio.sock");
  EXPECT_EQ(client.Call({{"op", "write"}, {"line", "GPIO17"}, {"value", 1}}), json::parse(R"({"value": 1})"));
  EXPECT_EQ(*sim_->Read(kOut), 1);

  // Uninstalling stops the instance: then its lines go.
  ASSERT_TRUE(host_->Uninstall("warm-blink"));
  EXPECT_TRUE(Eventually([&] { return !Line(kOut).used; }));
  EXPECT_TRUE(state_->WaitFor([&] { return state_->alive_processes == 0; }));
  EXPECT_FALSE(std::filesystem::exists(socket->source));
}

TEST_F(GpioHostTest, AWarmInstanceThatCannotGetItsLinesIsNotStarted) {
  MakeHost();
  Install("warm-blink", {{"GPIO17", GpioDirection::kOutput}}, [](FunctionSpec& s) { s.warm.enabled = true; });
  ASSERT_TRUE(sim_->Request(kOut, {gpio::Direction::kOutput}, "api"));
  auto result = Call("warm-blink");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kConflict);
  EXPECT_EQ(result.error().message, "line GPIO17 is busy: held by api");
  EXPECT_TRUE(state_->starts.empty());
}

}  // namespace
}  // namespace ew::containers
