// GpioBroker over a SimChip: lines held as the invocation, the socket protocol (read, write,
// wait), denials that change nothing and are logged, busy lines at Open, release at Close, many
// clients at once. Also the clients built into the clients directory (C header, bin/gpio)
// against a broker in this process.
#include "containers/gpio/gpio_broker.hpp"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "common/gpio/sim_chip.hpp"
#include "common/log/log.hpp"
#include "containers/gpio/clients/include/edgewire_gpio.h"
#include "containers/gpio/gpio_sandbox.hpp"
#include "tests/containers/gpio/broker_test_client.hpp"
#include "tests/containers/runtime/runtime_test_util.hpp"

namespace ew::containers {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::BrokerClient;
using testing::Eventually;

constexpr uint32_t kOut = 17;  // GPIO17, declared output
constexpr uint32_t kIn = 4;    // GPIO4, declared input
constexpr uint32_t kOther = 22;

size_t ThreadCount() {
  size_t n = 0;
  DIR* dir = opendir("/proc/self/task");
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

// Entries of `dir`; 0 when it does not exist.
size_t Entries(const std::filesystem::path& dir) {
  size_t n = 0;
  if (!std::filesystem::exists(dir)) return 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

class GpioBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sim = std::make_unique<gpio::SimChip>("sim0", gpio::SimChip::RaspberryPiLines());
    sim_ = sim.get();
    chips_.Add(std::move(sim), "sim");
    log_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    ew::log::Get("containers")->sinks().push_back(log_);
  }
  void TearDown() override {
    broker_.reset();  // before the log sink goes
    auto& sinks = ew::log::Get("containers")->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), log_), sinks.end());
  }

  static std::vector<GpioLineSpec> Declared() {
    return {{"GPIO17", GpioDirection::kOutput}, {"GPIO4", GpioDirection::kInput}};
  }

  void Open(std::vector<GpioLineSpec> lines = Declared()) {
    auto broker = GpioBroker::Open(chips_, lines, "blink", "inv-1", root_.path() / "gpio", geteuid());
    ASSERT_TRUE(broker) << broker.error().message;
    broker_ = std::move(*broker);
  }

  std::string Logged() {
    std::string all;
    for (const auto& line : log_->last_formatted()) all += line;
    return all;
  }

  gpio::LineInfo Line(uint32_t offset) { return sim_->Lines()[offset]; }

  testing::TempDir root_{"ew-gpio-broker"};
  gpio::ChipSet chips_;
  gpio::SimChip* sim_ = nullptr;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_;
  std::unique_ptr<GpioBroker> broker_;
};

TEST_F(GpioBrokerTest, OpenHoldsTheDeclaredLinesAsTheInvocation) {
  Open();
  EXPECT_EQ(broker_->consumer(), "fn:blink:inv-1");
  EXPECT_EQ(Line(kOut).consumer, "fn:blink:inv-1");
  EXPECT_EQ(Line(kOut).direction, gpio::Direction::kOutput);
  EXPECT_EQ(Line(kOut).value, 0);
  EXPECT_EQ(Line(kIn).consumer, "fn:blink:inv-1");
  EXPECT_EQ(Line(kIn).direction, gpio::Direction::kInput);
  EXPECT_FALSE(Line(kOther).used);

  struct stat st;
  ASSERT_EQ(stat(broker_->socket_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  EXPECT_EQ(broker_->socket_dir().parent_path(), root_.path() / "gpio");
  ASSERT_EQ(stat(broker_->socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  EXPECT_EQ(broker_->socket_path().filename(), "gpio.sock");
}

TEST_F(GpioBrokerTest, AnOutputStartsAtTheLevelItHas) {
  ASSERT_TRUE(sim_->Request(kOut, {gpio::Direction::kOutput, gpio::Bias::kAsIs, gpio::Edges::kNone, {}, 1}, "api"));
  ASSERT_TRUE(sim_->Release(kOut, "api"));  // still driving 1, as a released output does
  Open();
  EXPECT_EQ(Line(kOut).consumer, "fn:blink:inv-1");
  EXPECT_EQ(*sim_->Read(kOut), 1) << "taking the line must not glitch it to 0";
}

TEST_F(GpioBrokerTest, WriteToADeclaredOutputChangesTheLine) {
  Open();
  BrokerClient client(broker_->socket_path());
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.Call({{"op", "write"}, {"line", "GPIO17"}, {"value", 1}}), json::parse(R"({"value": 1})"));
  EXPECT_EQ(*sim_->Read(kOut), 1);
  // The same line by its offset, and reads of an output give its level.
  EXPECT_EQ(client.Call({{"op", "write"}, {"line", "17"}, {"value", 0}}), json::parse(R"({"value": 0})"));
  EXPECT_EQ(*sim_->Read(kOut), 0);
  EXPECT_EQ(client.Call({{"op", "read"}, {"line", "sim0:GPIO17"}}), json::parse(R"({"value": 0})"));
}

TEST_F(GpioBrokerTest, ReadOfADeclaredInputSeesTheDrivenLevel) {
  Open();
  BrokerClient client(broker_->socket_path());
  EXPECT_EQ(client.Call({{"op", "read"}, {"line", "GPIO4"}}), json::parse(R"({"value": 0})"));
  ASSERT_TRUE(sim_->Drive(kIn, 1, 1ms));
  EXPECT_EQ(client.Call({{"op", "read"}, {"line", "GPIO4"}}), json::parse(R"({"value": 1})"));
}

TEST_F(GpioBrokerTest, AnUndeclaredLineIsDeniedLoggedAndUnchanged) {
  Open();
  ASSERT_TRUE(sim_->Drive(kOther, 1, 1ms));
  BrokerClient client(broker_->socket_path());
  for (const char* op : {"write", "read", "wait"}) {
    json request = {{"op", op}, {"line", "GPIO22"}};
    if (std::string(op) == "write") request["value"] = 0;
    auto reply = client.Call(request);
    ASSERT_TRUE(reply.contains("error")) << op << ": " << reply;
    EXPECT_EQ(reply["error"]["code"], "permission_denied") << op;
    EXPECT_EQ(reply["error"]["message"],
              "line GPIO22 is not declared by function blink (declared: GPIO17 (output), GPIO4 (input))");
  }
  // A line this board does not have is just as undeclared.
  EXPECT_EQ(client.Call({{"op", "read"}, {"line", "GPIO99"}})["error"]["code"], "permission_denied");
  EXPECT_FALSE(Line(kOther).used);
  EXPECT_EQ(Line(kOther).value, 1);  // still what the outside drives, not the write's 0
  std::string logged = Logged();
  EXPECT_NE(logged.find("denied write of line GPIO22 to function blink invocation inv-1"), std::string::npos) << logged;
  EXPECT_NE(logged.find("denied read of line GPIO99"), std::string::npos) << logged;
}

TEST_F(GpioBrokerTest, AWriteToADeclaredInputIsDenied) {
  Open();
  BrokerClient client(broker_->socket_path());
  auto reply = client.Call({{"op", "write"}, {"line", "GPIO4"}, {"value", 1}});
  EXPECT_EQ(reply["error"]["code"], "permission_denied") << reply;
  EXPECT_EQ(reply["error"]["message"], "line GPIO4 is declared as an input: function blink may not write it");
  EXPECT_EQ(*sim_->Read(kIn), 0);
  EXPECT_EQ(Line(kIn).direction, gpio::Direction::kInput);
  EXPECT_NE(Logged().find("denied write of line GPIO4 to function blink invocation inv-1"), std::string::npos);
}

TEST_F(GpioBrokerTest, WaitIsAnsweredByTheNextWantedEdge) {
  Open();
  // An edge before the wait began does not answer it.
  ASSERT_TRUE(sim_->Drive(kIn, 1, 1000ns));
  BrokerClient client(broker_->socket_path());
  ASSERT_TRUE(client.Send({{"op", "wait"}, {"line", "GPIO4"}, {"edge", "rising"}, {"timeoutMs", 20000}}));
  ASSERT_TRUE(Eventually([&] { return broker_->PendingWaits() == 1; }));
  ASSERT_TRUE(sim_->Drive(kIn, 0, 2000ns));  // falling: not asked for
  ASSERT_TRUE(sim_->Drive(kIn, 1, 3000ns));
  EXPECT_EQ(client.Receive(), json::parse(R"({"edge": "rising", "timestampNs": 3000})"));
  EXPECT_TRUE(Eventually([&] { return broker_->PendingWaits() == 0; }));

  // "both" (the default) takes either kind.
  ASSERT_TRUE(client.Send({{"op", "wait"}, {"line", "GPIO4"}}));
  ASSERT_TRUE(Eventually([&] { return broker_->PendingWaits() == 1; }));
  ASSERT_TRUE(sim_->Drive(kIn, 0, 4000ns));
  EXPECT_EQ(client.Receive(), json::parse(R"({"edge": "falling", "timestampNs": 4000})"));
}

TEST_F(GpioBrokerTest, WaitTimesOutWithoutAnEdge) {
  Open();
  BrokerClient client(broker_->socket_path());
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(client.Call({{"op", "wait"}, {"line", "GPIO4"}, {"edge", "both"}, {"timeoutMs", 50}}),
            json::parse(R"({"timeout": true})"));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 50ms);
  EXPECT_EQ(broker_->PendingWaits(), 0u);
  // The connection goes on serving.
  EXPECT_EQ(client.Call({{"op", "read"}, {"line", "GPIO4"}}), json::parse(R"({"value": 0})"));
}

TEST_F(GpioBrokerTest, WaitOnAnOutputIsInvalid) {
  Open();
  BrokerClient client(broker_->socket_path());
  auto reply = client.Call({{"op", "wait"}, {"line", "GPIO17"}, {"timeoutMs", 10}});
  EXPECT_EQ(reply["error"]["code"], "invalid_argument") << reply;
}

TEST_F(GpioBrokerTest, BadRequestsAreAnsweredAndTheConnectionGoesOn) {
  Open();
  BrokerClient client(broker_->socket_path());
  for (const std::string bad : {"not json", "[1]", R"({"op": "toggle", "line": "GPIO17"})",
                                R"({"op": "write", "line": "GPIO17", "value": 2})",
                                R"({"op": "write", "line": "GPIO17", "value": "1"})", R"({"op": "write", "line": "GPIO17"})",
                                R"({"op": "read", "line": "GPIO17", "extra": 1})", R"({"op": "read"})",
                                R"({"op": "read", "line": "GPIO 17"})", "{\"op\": \"read\", \"line\": \"GPIO\xff\"}",
                                R"({"op": "wait", "line": "GPIO4", "edge": "up"})",
                                R"({"op": "wait", "line": "GPIO4", "timeoutMs": -1})",
                                R"({"op": "wait", "line": "GPIO4", "timeoutMs": 900001})"}) {
    ASSERT_TRUE(client.SendRaw(bad + "\n"));
    auto reply = client.Receive();
    ASSERT_TRUE(reply.contains("error")) << bad << " → " << reply;
    EXPECT_EQ(reply["error"]["code"], "invalid_argument") << bad;
  }
  EXPECT_EQ(*sim_->Read(kOut), 0);
  EXPECT_EQ(client.Call({{"op", "write"}, {"line", "GPIO17"}, {"value", 1}}), json::parse(R"({"value": 1})"));
}

TEST_F(GpioBrokerTest, AnOversizedRequestClosesItsConnection) {
  Open();
  BrokerClient client(broker_->socket_path());
  ASSERT_TRUE(client.SendRaw(std::string(GpioBroker::kMaxRequestBytes + 10, 'x')));
  auto reply = client.Receive();
  EXPECT_EQ(reply["error"]["code"], "invalid_argument") << reply;
  EXPECT_TRUE(client.SeesEndOfFile());
}

// Issue #11 (item 9): an empty request line used to get no answer, leaving the client waiting.
TEST_F(GpioBrokerTest, AnEmptyRequestLineIsAnsweredAndTheConnectionGoesOn) {
  Open();
  BrokerClient client(broker_->socket_path());
  for (const std::string blank : {"\n", "   \n", "\r\n", "\t\n"}) {
    ASSERT_TRUE(client.SendRaw(blank));
    auto reply = client.Receive();
    ASSERT_TRUE(reply.contains("error")) << reply;
    EXPECT_EQ(reply["error"]["code"], "invalid_argument") << reply;
  }
  EXPECT_EQ(client.Call({{"op", "write"}, {"line", "GPIO17"}, {"value", 1}}), json::parse(R"({"value": 1})"));
}

// Issue #11 (item 9): the broker serves only its invocation's uid (SO_PEERCRED); another
// function that finds the socket is refused before any request is read.
TEST_F(GpioBrokerTest, APeerOfAnotherUidIsRefusedAndLogged) {
  auto broker = GpioBroker::Open(chips_, Declared(), "blink", "inv-uid", root_.path() / "gpio", geteuid() + 4242);
  ASSERT_TRUE(broker) << broker.error().message;
  broker_ = std::move(*broker);
  BrokerClient client(broker_->socket_path());
  ASSERT_TRUE(client.connected());
  // The refusal comes unasked, right at accept. (A request sent before it may make the close
  // reset the connection, losing the reply: the client is refused either way.)
  auto reply = client.Receive();
  EXPECT_EQ(reply["error"]["code"], "permission_denied") << reply;
  EXPECT_TRUE(client.SeesEndOfFile());
  EXPECT_EQ(*sim_->Read(kOut), 0);
  EXPECT_NE(Logged().find("refused a connection from uid " + std::to_string(geteuid())), std::string::npos) << Logged();
}

TEST_F(GpioBrokerTest, ThePeerOfTheInvocationsUidIsServed) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  constexpr uid_t kFunctionUid = 1'065'000;
  auto broker = GpioBroker::Open(chips_, Declared(), "blink", "inv-uid2", root_.path() / "gpio", kFunctionUid);
  ASSERT_TRUE(broker) << broker.error().message;
  broker_ = std::move(*broker);
  // A child as the function's uid writes the line and reports the answer by its exit status.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgid(kFunctionUid) != 0 || setuid(kFunctionUid) != 0) _exit(2);
    BrokerClient client(broker_->socket_path());
    auto reply = client.Call({{"op", "write"}, {"line", "GPIO17"}, {"value", 1}});
    _exit(reply == json::parse(R"({"value": 1})") ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(*sim_->Read(kOut), 1);
}

TEST_F(GpioBrokerTest, PipelinedRequestsAreAnsweredInOrder) {
  Open();
  BrokerClient client(broker_->socket_path());
  ASSERT_TRUE(client.SendRaw(R"({"op":"write","line":"GPIO17","value":1})" "\n"
                             R"({"op":"wait","line":"GPIO4","timeoutMs":30})" "\n"
                             R"({"op":"read","line":"GPIO17"})" "\n"
                             R"({"op":"write","line":"GPIO17","value":0})"));  // the last one without '\n'
  EXPECT_EQ(client.Receive(), json::parse(R"({"value": 1})"));
  EXPECT_EQ(client.Receive(), json::parse(R"({"timeout": true})"));
  EXPECT_EQ(client.Receive(), json::parse(R"({"value": 1})"));
  // Half-closing answers the unterminated request, then the broker closes.
  client.ShutdownWrite();
  EXPECT_EQ(client.Receive(), json::parse(R"({"value": 0})"));
  EXPECT_TRUE(client.SeesEndOfFile());
}

TEST_F(GpioBrokerTest, ManyClientsAtOnce) {
  Open();
  BrokerClient waiter(broker_->socket_path());
  ASSERT_TRUE(waiter.Send({{"op", "wait"}, {"line", "GPIO4"}, {"edge", "rising"}}));
  ASSERT_TRUE(Eventually([&] { return broker_->PendingWaits() == 1; }));
  // While one waits, others are served.
  std::vector<std::unique_ptr<BrokerClient>> others;
  for (size_t i = 1; i < GpioBroker::kMaxClients; ++i) {
    others.push_back(std::make_unique<BrokerClient>(broker_->socket_path()));
    json expected = {{"value", static_cast<int>(i % 2)}};
    EXPECT_EQ(others.back()->Call({{"op", "write"}, {"line", "GPIO17"}, {"value", static_cast<int>(i % 2)}}), expected);
  }
  // One more than the limit is refused.
  BrokerClient extra(broker_->socket_path());
  EXPECT_EQ(extra.Receive()["error"]["code"], "resource_exhausted");
  ASSERT_TRUE(sim_->Drive(kIn, 1, 5ms));
  EXPECT_EQ(waiter.Receive(), json::parse(R"({"edge": "rising", "timestampNs": 5000000})"));
  // A client that leaves makes room.
  others.pop_back();
  EXPECT_TRUE(Eventually([&] {
    BrokerClient again(broker_->socket_path());
    return again.Call({{"op", "read"}, {"line", "GPIO4"}}) == json::parse(R"({"value": 1})");
  }));
}

TEST_F(GpioBrokerTest, AnInputHeldAsAnInputIsSharedForReadsOnly) {
  gpio::LineRequest trigger;
  trigger.edges = gpio::Edges::kRising;
  ASSERT_TRUE(sim_->Request(kIn, trigger, "trigger:fn-1", [](const gpio::EdgeEvent&) {}));
  Open();
  BrokerClient client(broker_->socket_path());
  ASSERT_TRUE(sim_->Drive(kIn, 1, 1ms));
  EXPECT_EQ(client.Call({{"op", "read"}, {"line", "GPIO4"}}), json::parse(R"({"value": 1})"));
  auto wait = client.Call({{"op", "wait"}, {"line", "GPIO4"}, {"timeoutMs", 10}});
  ASSERT_TRUE(wait.contains("error")) << wait;
  EXPECT_EQ(wait["error"]["code"], "conflict");
  EXPECT_NE(wait["error"]["message"].get<std::string>().find("trigger:fn-1"), std::string::npos) << wait;
  broker_.reset();
  EXPECT_EQ(Line(kIn).consumer, "trigger:fn-1");  // never the broker's to release
}

TEST_F(GpioBrokerTest, ABusyLineFailsOpenNamingTheHolderAndLeavesNothingHeld) {
  ASSERT_TRUE(sim_->Request(kIn, {gpio::Direction::kOutput}, "api"));
  auto broker = GpioBroker::Open(chips_, Declared(), "blink", "inv-2", root_.path() / "gpio", geteuid());
  ASSERT_FALSE(broker);
  EXPECT_EQ(broker.error().code, ErrorCode::kConflict);
  EXPECT_EQ(broker.error().message, "line GPIO4 is busy: held by api");
  EXPECT_FALSE(Line(kOut).used);  // taken before GPIO4 was found busy, and given back
  EXPECT_EQ(Line(kIn).consumer, "api");
  EXPECT_EQ(Entries(root_.path() / "gpio"), 0u);  // no socket directory left
}

TEST_F(GpioBrokerTest, BadDeclarationsFailOpenAndLeaveNothingHeld) {
  auto unknown = GpioBroker::Open(chips_, {{"GPIO17", GpioDirection::kOutput}, {"GPIO99", GpioDirection::kInput}},
                                  "blink", "inv-3", root_.path() / "gpio", geteuid());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(Line(kOut).used);

  auto twice = GpioBroker::Open(chips_, {{"GPIO17", GpioDirection::kOutput}, {"17", GpioDirection::kInput}}, "blink",
                                "inv-4", root_.path() / "gpio", geteuid());
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Line(kOut).used);

  auto none = GpioBroker::Open(chips_, {}, "blink", "inv-5", root_.path() / "gpio", geteuid());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kInvalidArgument);

  // The same line twice with one direction is one line.
  Open({{"GPIO17", GpioDirection::kOutput}, {"17", GpioDirection::kOutput}});
  EXPECT_EQ(Line(kOut).consumer, "fn:blink:inv-1");
}

TEST_F(GpioBrokerTest, CloseReleasesTheLinesStopsTheThreadAndRemovesTheSocket) {
  size_t threads_before = ThreadCount();
  Open();
  EXPECT_TRUE(Eventually([&] { return ThreadCount() == threads_before + 1; }));
  auto dir = broker_->socket_dir();
  BrokerClient waiting(broker_->socket_path());
  ASSERT_TRUE(waiting.Send({{"op", "wait"}, {"line", "GPIO4"}}));
  ASSERT_TRUE(Eventually([&] { return broker_->PendingWaits() == 1; }));

  broker_->Close();
  EXPECT_FALSE(Line(kOut).used);
  EXPECT_FALSE(Line(kIn).used);
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_TRUE(Eventually([&] { return ThreadCount() == threads_before; }));
  EXPECT_TRUE(waiting.SeesEndOfFile());
  EXPECT_FALSE(BrokerClient(dir / "gpio.sock").connected());
  broker_->Close();  // idempotent

  // The lines are free for the next invocation; destroying it releases them too.
  auto next = GpioBroker::Open(chips_, Declared(), "blink", "inv-6", root_.path() / "gpio", geteuid());
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(Line(kOut).consumer, "fn:blink:inv-6");
  next->reset();
  EXPECT_FALSE(Line(kOut).used);
  // An edge after the broker went reaches nobody, harmlessly.
  EXPECT_TRUE(sim_->Drive(kIn, 1, 1s));
}

TEST_F(GpioBrokerTest, AddGpioToContainerMountsTheSocketAndTheClients) {
  Open();
  ContainerSpec spec;
  spec.env = {"EW_FUNCTION=blink"};
  ASSERT_TRUE(AddGpioToContainer(spec, *broker_, DefaultGpioClientsDir()));
  ASSERT_EQ(spec.extra_mounts.size(), 2u);
  EXPECT_EQ(spec.extra_mounts[0].source, broker_->socket_dir());
  EXPECT_EQ(spec.extra_mounts[0].destination, "/run/edgewire");
  EXPECT_EQ(spec.extra_mounts[1].source, DefaultGpioClientsDir());
  EXPECT_EQ(spec.extra_mounts[1].destination, "/opt/edgewire");
  EXPECT_TRUE(spec.extra_mounts[1].read_only);
  EXPECT_EQ(spec.env, (std::vector<std::string>{"EW_FUNCTION=blink",
                                                 "PATH=/opt/edgewire/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                                                 "EDGEWIRE_GPIO_SOCKET=/run/edgewire/gpio.sock",
                                                 "PYTHONPATH=/opt/edgewire/python"}));
  for (const auto& mount : spec.extra_mounts) EXPECT_EQ(mount.source.string().find("/dev/"), std::string::npos);

  ContainerSpec missing;
  auto refused = AddGpioToContainer(missing, *broker_, root_.path() / "no-clients");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
}

// --- the clients, outside any container ---

class GpioClientsTest : public GpioBrokerTest {
 protected:
  void SetUp() override {
    GpioBrokerTest::SetUp();
    Open();
    setenv("EDGEWIRE_GPIO_SOCKET", broker_->socket_path().c_str(), 1);
  }
  void TearDown() override {
    unsetenv("EDGEWIRE_GPIO_SOCKET");
    GpioBrokerTest::TearDown();
  }

  struct Ran {
    int status = -1;
    std::string out;
  };
  // bin/gpio with `args`, stderr folded into the output.
  static Ran Gpio(const std::string& args) {
    std::string command = (DefaultGpioClientsDir() / "bin" / "gpio").string() + " " + args + " 2>&1";
    Ran ran;
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return ran;
    std::array<char, 512> chunk;
    while (size_t n = fread(chunk.data(), 1, chunk.size(), pipe)) ran.out.append(chunk.data(), n);
    int status = pclose(pipe);
    ran.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return ran;
  }
};

TEST_F(GpioClientsTest, CHeaderReadsWritesAndWaits) {
  char err[512] = "";
  EXPECT_EQ(ew_gpio_write("GPIO17", 1, err, sizeof err), 1) << err;
  EXPECT_EQ(*sim_->Read(kOut), 1);
  EXPECT_EQ(ew_gpio_read("GPIO17", err, sizeof err), 1) << err;
  EXPECT_EQ(ew_gpio_read("GPIO22", err, sizeof err), -1);
  EXPECT_EQ(std::string(err),
            "permission_denied: line GPIO22 is not declared by function blink (declared: GPIO17 (output), GPIO4 (input))");
  EXPECT_EQ(ew_gpio_write("GPIO4", 1, err, sizeof err), -1);
  EXPECT_EQ(std::string(err).rfind("permission_denied: ", 0), 0u) << err;
  EXPECT_EQ(ew_gpio_write("GPIO17", 2, err, sizeof err), -1);
  long long timestamp = -1;
  EXPECT_EQ(ew_gpio_wait("GPIO4", "rising", 20, &timestamp, err, sizeof err), EW_GPIO_TIMEOUT) << err;
  EXPECT_EQ(ew_gpio_wait("GPIO4", "up", 20, &timestamp, err, sizeof err), -1);
  EXPECT_EQ(std::string(err).rfind("invalid_argument: edge", 0), 0u) << err;
  // A name with a quote in it travels escaped, and comes back in the (escaped) message.
  EXPECT_EQ(ew_gpio_read("GP\"IO", err, sizeof err), -1);
  EXPECT_EQ(std::string(err), "permission_denied: line GP\"IO is not declared by function blink (declared: GPIO17 "
                              "(output), GPIO4 (input))");

  setenv("EDGEWIRE_GPIO_SOCKET", (root_.path() / "nothing.sock").c_str(), 1);
  EXPECT_EQ(ew_gpio_read("GPIO17", err, sizeof err), -1);
  EXPECT_EQ(std::string(err).rfind("unavailable: cannot reach the GPIO broker", 0), 0u) << err;
}

TEST_F(GpioClientsTest, CHeaderWaitReturnsTheEdge) {
  std::atomic<int> result{-2};
  long long timestamp = 0;
  char err[512] = "";
  std::thread waiter([&] { result = ew_gpio_wait("GPIO4", nullptr, -1, &timestamp, err, sizeof err); });
  ASSERT_TRUE(Eventually([&] { return broker_->PendingWaits() == 1; }));
  ASSERT_TRUE(sim_->Drive(kIn, 1, 7ns));
  waiter.join();
  EXPECT_EQ(result, EW_GPIO_RISING) << err;
  EXPECT_EQ(timestamp, 7);
}

TEST_F(GpioClientsTest, GpioCommand) {
  auto set = Gpio("set GPIO17 1");
  EXPECT_EQ(set.status, 0) << set.out;
  EXPECT_EQ(set.out, "");  // nothing on stdout: it is the function's result
  EXPECT_EQ(*sim_->Read(kOut), 1);
  auto get = Gpio("get GPIO17");
  EXPECT_EQ(get.status, 0);
  EXPECT_EQ(get.out, "1\n");
  auto timeout = Gpio("wait GPIO4 falling 10");
  EXPECT_EQ(timeout.status, 2);
  EXPECT_EQ(timeout.out, "timeout\n");

  auto denied = Gpio("set GPIO22 1");
  EXPECT_EQ(denied.status, 1);
  EXPECT_EQ(denied.out, "gpio: permission_denied: line GPIO22 is not declared by function blink (declared: GPIO17 "
                        "(output), GPIO4 (input))\n");
  EXPECT_FALSE(Line(kOther).used);
  for (const char* usage : {"", "set GPIO17", "set GPIO17 2", "get", "wait GPIO4 up", "wait GPIO4 both -5", "toggle GPIO17"}) {
    auto bad = Gpio(usage);
    EXPECT_EQ(bad.status, 1) << usage;
    EXPECT_NE(bad.out.find("usage: gpio get LINE"), std::string::npos) << usage << ": " << bad.out;
  }
  EXPECT_EQ(*sim_->Read(kOut), 1);
}

}  // namespace
}  // namespace ew::containers
