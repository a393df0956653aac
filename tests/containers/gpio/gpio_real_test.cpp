// Functions touching GPIO from real containers (runc, bwrap, crun where it runs), through the
// broker's socket and the clients mounted at /opt/edgewire: `gpio` from sh, edgewire_gpio from
// python3, denials for undeclared lines, and lines free once the invocation is over.
#include <future>
#include <iostream>

#include <gtest/gtest.h>

#include "common/gpio/sim_chip.hpp"
#include "containers/host/function_host.hpp"
#include "tests/containers/gpio/broker_test_client.hpp"
#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Status = InvocationResult::Status;

constexpr uint32_t kFunctionUid = 60201;
constexpr uint32_t kOut = 17;
constexpr uint32_t kOut2 = 18;
constexpr uint32_t kIn = 4;
constexpr uint32_t kOther = 22;

class RealGpioTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto sim = std::make_unique<gpio::SimChip>("sim0", gpio::SimChip::RaspberryPiLines());
    sim_ = sim.get();
    chips_.Add(std::move(sim), "sim");
    auto real = testing::MakeRealRuntime(GetParam(), work_.path() / "containers", kFunctionUid);
    if (!real.skip.empty()) GTEST_SKIP() << real.skip;
    ASSERT_TRUE(real.runtime) << real.failure;
    HostConfig host;
    host.gpio = &chips_;
    host.gpio_socket_dir = work_.path() / "gpio";
    host_ = std::make_unique<FunctionHost>(host, std::move(real.runtime));
  }
  void TearDown() override { host_.reset(); }

  void Install(const std::string& key, Runtime runtime, const std::string& entry, const std::string& code,
               std::vector<GpioLineSpec> gpio) {
    FunctionSpec spec;
    spec.name = key;
    spec.version = "1.0.0";
    spec.runtime = runtime;
    spec.entrypoint = entry;
    spec.timeout = 30s;
    spec.gpio = std::move(gpio);
    testing::WriteFile(code_ / key / entry, code);
    auto installed = host_->Install(key, spec, code_ / key);
    ASSERT_TRUE(installed) << installed.error().message;
  }

  std::future<Result<InvocationResult>> Start(const std::string& key) {
    auto promise = std::make_shared<std::promise<Result<InvocationResult>>>();
    auto future = promise->get_future();
    host_->Invoke(key, "{}", [promise](Result<InvocationResult> r) { promise->set_value(std::move(r)); });
    return future;
  }

  Result<InvocationResult> Call(const std::string& key) {
    auto future = Start(key);
    if (future.wait_for(60s) != std::future_status::ready) return Internal("no answer within 60 s");
    return future.get();
  }

  // Toggles GPIO4 until the invocation ends: its `wait` may begin at any time, and each round
  // gives it a rising edge.
  Result<InvocationResult> ToggleInputUntilDone(std::future<Result<InvocationResult>>& future) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (future.wait_for(5ms) != std::future_status::ready) {
      if (std::chrono::steady_clock::now() > deadline) return Internal("no answer within 60 s");
      tick_ += 1ms;
      EXPECT_TRUE(sim_->Drive(kIn, 1, tick_));
      tick_ += 1ms;
      EXPECT_TRUE(sim_->Drive(kIn, 0, tick_));
    }
    return future.get();
  }

  gpio::LineInfo Line(uint32_t offset) { return sim_->Lines()[offset]; }
  void ExpectAllLinesFree() {
    for (const auto& line : sim_->Lines()) EXPECT_FALSE(line.used) << line.name << " held by " << line.consumer;
  }

  testing::TempDir work_{"ew-gpio-real"};
  testing::TempDir code_{"ew-gpio-real-code"};
  gpio::ChipSet chips_;
  gpio::SimChip* sim_ = nullptr;
  std::chrono::nanoseconds tick_{0};
  std::unique_ptr<FunctionHost> host_;
};

TEST_P(RealGpioTest, AShFunctionSetsItsDeclaredOutput) {
  Install("blink", Runtime::kSh, "main.sh",
          "set -e\n"
          "gpio set GPIO17 1\n"
          "edge=$(gpio wait GPIO4 rising 20000)\n"
          "echo \"{\\\"edge\\\": \\\"$edge\\\", \\\"value\\\": $(gpio get GPIO17), \\\"socket\\\": \\\"$EDGEWIRE_GPIO_SOCKET\\\","
          " \\\"gpio\\\": \\\"$(command -v gpio)\\\"}\"\n",
          {{"GPIO17", GpioDirection::kOutput}, {"GPIO4", GpioDirection::kInput}});
  auto future = Start("blink");
  // The function holds its wait until GPIO4 rises: meanwhile its output is observable here.
  ASSERT_TRUE(testing::Eventually([&] { return Line(kOut).value == 1 || future.wait_for(0s) == std::future_status::ready; },
                                  30s));
  EXPECT_EQ(Line(kOut).value, 1);
  EXPECT_EQ(Line(kOut).consumer.rfind("fn:blink:inv-", 0), 0u) << Line(kOut).consumer;
  EXPECT_EQ(Line(kOut).direction, gpio::Direction::kOutput);
  auto result = ToggleInputUntilDone(future);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->status, Status::kSucceeded) << result->error << "\n" << result->logs;
  EXPECT_EQ(result->output, json::parse(R"({"edge": "rising", "value": 1, "socket": "/run/edgewire/gpio.sock",
                                           "gpio": "/opt/edgewire/bin/gpio"})"));
  std::cout << "[timing] " << GetParam() << " cold sh invocation with GPIO: " << result->run_time.count() / 1000.0
            << " ms\n";
  ExpectAllLinesFree();
}

TEST_P(RealGpioTest, APython3FunctionUsesEdgewireGpio) {
  Install("py-blink", Runtime::kPython3, "main.py",
          "import json, edgewire_gpio as gpio\n"
          "gpio.write('GPIO18', 1)\n"
          "try:\n"
          "    gpio.write('GPIO4', 1)\n"
          "    denied = None\n"
          "except gpio.GpioError as e:\n"
          "    denied = e.code\n"
          "edge = gpio.wait('GPIO4', edge='rising', timeout_ms=20000)\n"
          "print(json.dumps({'value': gpio.read('GPIO18'), 'denied': denied, 'edge': edge.edge}))\n",
          {{"GPIO18", GpioDirection::kOutput}, {"GPIO4", GpioDirection::kInput}});
  auto future = Start("py-blink");
  ASSERT_TRUE(testing::Eventually(
      [&] { return Line(kOut2).value == 1 || future.wait_for(0s) == std::future_status::ready; }, 30s));
  EXPECT_EQ(Line(kOut2).value, 1);
  EXPECT_EQ(Line(kOut2).consumer.rfind("fn:py-blink:inv-", 0), 0u) << Line(kOut2).consumer;
  auto result = ToggleInputUntilDone(future);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->status, Status::kSucceeded) << result->error << "\n" << result->logs;
  EXPECT_EQ(result->output, json::parse(R"({"value": 1, "denied": "permission_denied", "edge": "rising"})"));
  ExpectAllLinesFree();
}

TEST_P(RealGpioTest, AnUndeclaredLineIsDeniedAndUnchanged) {
  Install("sneaky", Runtime::kSh, "main.sh",
          "if gpio set GPIO22 1 2>/tmp/err; then denied=false; else denied=true; fi\n"
          "cat /tmp/err >&2\n"
          "ls /dev/gpiochip* >/dev/null 2>&1 && chip=true || chip=false\n"
          "echo \"{\\\"denied\\\": $denied, \\\"chip\\\": $chip}\"\n",
          {{"GPIO17", GpioDirection::kOutput}});
  auto result = Call("sneaky");
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->status, Status::kSucceeded) << result->error << "\n" << result->logs;
  EXPECT_EQ(result->output, json::parse(R"({"denied": true, "chip": false})"));
  EXPECT_NE(result->logs.find("gpio: permission_denied: line GPIO22 is not declared by function sneaky"),
            std::string::npos)
      << result->logs;
  EXPECT_FALSE(Line(kOther).used);
  EXPECT_EQ(Line(kOther).value, 0);
  ExpectAllLinesFree();
}

// Issue #11: a GPIO function's container names no host path in its mountinfo (the broker's
// socket directory is a tmpfs of its own, the clients an overlay), and it still reaches the
// broker as its own uid.
TEST_P(RealGpioTest, Issue11_MountinfoOfAGpioFunctionNamesNoHostPath) {
  Install("mounts", Runtime::kSh, "main.sh",
          "gpio get GPIO17 >/dev/null || exit 3\n"
          "cat /proc/self/mountinfo >&2\n"
          "echo '{}'\n",
          {{"GPIO17", GpioDirection::kOutput}});
  auto result = Call("mounts");
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->status, InvocationResult::Status::kSucceeded) << result->error << "\n" << result->logs;
  const std::string& logs = result->logs;
  EXPECT_NE(logs.find(" / /run/edgewire "), std::string::npos) << logs;
  EXPECT_NE(logs.find(" / /opt/edgewire "), std::string::npos) << logs;
  EXPECT_EQ(logs.find(work_.path().string()), std::string::npos) << logs;
  EXPECT_EQ(logs.find(DefaultGpioClientsDir().string()), std::string::npos) << logs;
}

TEST_P(RealGpioTest, ABusyLineStartsNoContainer) {
  Install("blocked", Runtime::kSh, "main.sh", "echo '{}'\n", {{"GPIO17", GpioDirection::kOutput}});
  ASSERT_TRUE(sim_->Request(kOut, {gpio::Direction::kOutput}, "api"));
  auto result = Call("blocked");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kConflict);
  EXPECT_EQ(result.error().message, "line GPIO17 is busy: held by api");
  ASSERT_TRUE(sim_->Release(kOut, "api"));
  // Free again, the next invocation runs.
  auto next = Call("blocked");
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(next->status, Status::kSucceeded) << next->error << "\n" << next->logs;
  ExpectAllLinesFree();
}

INSTANTIATE_TEST_SUITE_P(Runtimes, RealGpioTest, ::testing::Values("runc", "bwrap", "crun"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace ew::containers
