// FlowService over a simulated chip, a real on-disk spool and a fake conductor that records what
// the board publishes, subscribes to and calls: deploy/stop/list, versions, persistence across a
// restart, cross wires out (numbered, spooled while offline) and in (ordered, duplicates dropped),
// flow.sync and edgewire-function.
#include "device-agent/flows/flow_service.hpp"

#include <unistd.h>

#include <filesystem>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "common/gpio/sim_chip.hpp"
#include "flows/model/partition_json.hpp"
#include "tests/support/acked_publications.hpp"

namespace ew::agent::flows {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class FakeConductor final : public rpc::ConductorClient {
 public:
  void Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds,
            std::function<void(Result<rpc::Reply>)> done) override {
    calls.emplace_back(procedure, arguments.kwargs);
    if (procedure == contract::publish::kPublish.uri) {
      // Cross wires with the spool: acknowledged publications.
      if (!connected) return done(Unavailable("no session"));
      auto answer = acked.Take(arguments.kwargs);
      for (; taken < acked.events.size(); ++taken)
        published.push_back({acked.events[taken].topic, acked.events[taken].args, acked.events[taken].kwargs});
      return done(std::move(answer));
    }
    auto it = answers.find(procedure);
    if (it == answers.end()) {
      done(NotFound("no procedure " + procedure));
      return;
    }
    done(it->second(arguments.kwargs));
  }
  bool Publish(const std::string& topic, const rpc::Reply& payload) override {
    if (!connected) return false;
    published.push_back({topic, payload.args, payload.kwargs});
    return true;
  }
  void Subscribe(const std::string& topic, std::function<void(const rpc::Request&)> handler) override {
    subscriptions[topic] = std::move(handler);
  }
  void Unsubscribe(const std::string& topic) override { subscriptions.erase(topic); }

  struct Publication {
    std::string topic;
    json args, kwargs;
  };
  std::vector<Publication> On(const std::string& topic) const {
    std::vector<Publication> out;
    for (const auto& p : published)
      if (p.topic == topic) out.push_back(p);
    return out;
  }

  bool connected = true;
  ew::testing::AckedPublications acked;
  size_t taken = 0;
  std::vector<Publication> published;
  std::map<std::string, std::function<void(const rpc::Request&)>> subscriptions;
  std::vector<std::pair<std::string, json>> calls;
  std::map<std::string, std::function<Result<rpc::Reply>(const json&)>> answers;
};

ew::flows::Node N(std::string id, std::string type, std::vector<std::vector<std::string>> wires, json props) {
  ew::flows::Node n;
  n.id = std::move(id);
  n.type = std::move(type);
  n.tab = "tab1";
  n.wires = std::move(wires);
  n.props = std::move(props);
  return n;
}

const char* kOutTopic = "ew.flow.f1.wire.c.0";
const char* kInTopic = "ew.flow.f1.wire.far.0";

// gpio-in GPIO4 → change (payload = "edge:" + level kept in msg.level) → cross wire out; a cross
// wire in → debug (whole message).
json GpioPartition(uint64_t version, const std::string& board = "brd-1") {
  ew::flows::Partition p;
  p.flow = "f1";
  p.version = version;
  p.board = board;
  p.nodes = {N("g", "edgewire-gpio-in", {{"c"}}, {{"line", "GPIO4"}, {"edge", "both"}}),
             N("c", "change", {{}}, {{"rules", json::array({{{"t", "move"}, {"p", "payload"}, {"to", "level"}, {"tot", "msg"}},
                                                            {{"t", "set"}, {"p", "payload"}, {"to", "edge"}, {"tot", "str"}}})}}),
             N("d", "debug", {}, {{"complete", "true"}, {"active", true}})};
  p.outbound = {{"c", 0, kOutTopic}};
  p.inbound = {{kInTopic, {"d"}}};
  return ew::flows::ToJson(p);
}

class FlowServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("ew-flows-" + std::to_string(::getpid()) + "-" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    auto chip = std::make_unique<ew::gpio::SimChip>("sim0", ew::gpio::SimChip::RaspberryPiLines());
    sim_ = chip.get();
    chips_.Add(std::move(chip), "sim");
    spool::SpoolOptions spool_options;
    spool_options.dir = root_ / "spool";
    spool_options.sync.mode = spool::SyncMode::kNever;
    auto opened = spool::AsyncSpool::Open(io_, spool_options);
    ASSERT_TRUE(opened) << opened.error().message;
    spool_ = std::move(*opened);
    MakeService();
  }
  void TearDown() override {
    service_.reset();
    spool_.reset();
    std::filesystem::remove_all(root_);
  }
  void MakeService() {
    service_.reset();
    FlowServiceOptions options;
    options.board_id = "brd-1";
    options.state_dir = root_ / "flows";
    service_ = std::make_unique<FlowService>(io_, options, chips_, clock_);
    service_->SetConductor(&conductor_);
    service_->SetSpool(spool_.get());
    ASSERT_TRUE(service_->Restore());
  }
  // Runs the io thread (spool completions come from its writer thread) until `done` or 5 s.
  bool RunUntil(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.restart();
      io_.run_for(2ms);
    }
    return true;
  }
  void Settle() {
    for (int i = 0; i < 20; ++i) {
      io_.restart();
      io_.run_for(2ms);
    }
  }
  void Drive(int value) {
    now_ += 10ms;
    ASSERT_TRUE(sim_->Drive(4, value, now_));
  }
  rpc::Request WireEvent(uint64_t seq, json payload, uint64_t version = 1, std::string from = "brd-2") {
    rpc::Request e;
    e.procedure = kInTopic;
    e.args = json::array({{{"payload", payload}, {"_msgid", "x"}}});
    e.kwargs = {{"seq", seq}, {"from", from}, {"version", version}};
    return e;
  }

  std::filesystem::path root_;
  boost::asio::io_context io_;
  SystemClock clock_;
  ew::gpio::ChipSet chips_;
  ew::gpio::SimChip* sim_ = nullptr;
  FakeConductor conductor_;
  std::unique_ptr<spool::AsyncSpool> spool_;
  std::unique_ptr<FlowService> service_;
  std::chrono::nanoseconds now_{1'000'000'000};
};

TEST_F(FlowServiceTest, DeployRunsTheFlowAndPublishesCrossWiresInOrder) {
  service_->OnReady("ws://c", 1);
  auto deployed = service_->Deploy(GpioPartition(1));
  ASSERT_TRUE(deployed) << deployed.error().message;
  EXPECT_EQ(deployed->kwargs["state"], "running");
  EXPECT_EQ(conductor_.subscriptions.count(kInTopic), 1u);
  Drive(1);
  ASSERT_TRUE(RunUntil([&] { return conductor_.On(kOutTopic).size() == 1; }));
  auto first = conductor_.On(kOutTopic)[0];
  EXPECT_EQ(first.args[0]["payload"], "edge");
  EXPECT_EQ(first.args[0]["level"], 1);
  EXPECT_EQ(first.kwargs["seq"], 1);
  EXPECT_EQ(first.kwargs["from"], "brd-1");
  EXPECT_EQ(first.kwargs["version"], 1);

  // Conductor away: edges are spooled, then published in order with their numbers.
  conductor_.connected = false;
  service_->OnDisconnected("gone", 1s);
  Drive(0);
  Drive(1);
  Drive(0);
  Settle();
  EXPECT_EQ(conductor_.On(kOutTopic).size(), 1u);
  auto listed = service_->List();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->kwargs["flows"][0]["spooled"], 3);
  conductor_.connected = true;
  service_->OnReady("ws://c", 2);
  ASSERT_TRUE(RunUntil([&] { return conductor_.On(kOutTopic).size() == 4; }));
  auto all = conductor_.On(kOutTopic);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].kwargs["seq"], i + 1);
  EXPECT_EQ(all[1].args[0]["level"], 0);
  EXPECT_EQ(all[3].args[0]["level"], 0);
}

TEST_F(FlowServiceTest, InboundWiresAreOrderedAndDeduplicated) {
  service_->OnReady("ws://c", 1);
  ASSERT_TRUE(service_->Deploy(GpioPartition(1)));
  service_->OnWireEvent("f1", WireEvent(1, "a"));
  service_->OnWireEvent("f1", WireEvent(1, "a again"));  // duplicate
  service_->OnWireEvent("f1", WireEvent(3, "c"));        // held until 2
  service_->OnWireEvent("f1", WireEvent(2, "b"));
  service_->OnWireEvent("f1", WireEvent(9, "old", 0));   // an older deploy's partition
  Settle();
  std::vector<std::string> seen;
  for (const auto& p : conductor_.On("ew.flow.f1.debug")) seen.push_back(p.kwargs["msg"]["payload"]);
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(conductor_.On("ew.flow.f1.debug")[0].kwargs["board"], "brd-1");
}

TEST_F(FlowServiceTest, VersionsAndBadPartitions) {
  ASSERT_TRUE(service_->Deploy(GpioPartition(2)));
  auto older = service_->Deploy(GpioPartition(1));
  ASSERT_FALSE(older);
  EXPECT_EQ(older.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(service_->Deploy(GpioPartition(2)));  // the same version again: nothing to do
  auto other_board = service_->Deploy(GpioPartition(3, "brd-9"));
  ASSERT_FALSE(other_board);
  EXPECT_EQ(other_board.error().code, ErrorCode::kInvalidArgument);

  json bad = GpioPartition(3);
  bad["nodes"].push_back({{"id", "fn"}, {"type", "exec"}, {"tab", "tab1"}, {"wires", json::array()}});
  auto refused = service_->Deploy(bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("fn"), std::string::npos);
  auto listed = service_->List();
  EXPECT_EQ(listed->kwargs["flows"][0]["version"], 2);  // nothing changed
  EXPECT_EQ(listed->kwargs["flows"][0]["state"], "running");
}

TEST_F(FlowServiceTest, BusyLineFailsTheDeployAndIsListed) {
  ASSERT_TRUE(sim_->Request(4, ew::gpio::LineRequest{}, "someone-else"));
  auto deployed = service_->Deploy(GpioPartition(1));
  ASSERT_FALSE(deployed);
  EXPECT_NE(deployed.error().message.find("busy"), std::string::npos);
  EXPECT_EQ(service_->List()->kwargs["flows"][0]["state"], "failed");
}

TEST_F(FlowServiceTest, RestartResumesFromDiskAndRemembersVersions) {
  ASSERT_TRUE(service_->Deploy(GpioPartition(3)));
  MakeService();  // a restarted agent, no session yet
  EXPECT_EQ(service_->running(), 1u);
  EXPECT_EQ(service_->Deploy(GpioPartition(2)).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(service_->Stop("f1"));
  EXPECT_EQ(service_->Stop("f1").error().code, ErrorCode::kNotFound);
  MakeService();
  EXPECT_EQ(service_->running(), 0u);
  EXPECT_EQ(service_->Deploy(GpioPartition(2)).error().code, ErrorCode::kConflict);  // stopped at 3
  EXPECT_TRUE(service_->Deploy(GpioPartition(4)));
}

TEST_F(FlowServiceTest, SyncAfterJoinDeploysAndStops) {
  ASSERT_TRUE(service_->Deploy(GpioPartition(1)));
  conductor_.answers["ew.conductor.flow.sync"] = [](const json& request) -> Result<rpc::Reply> {
    rpc::Reply reply;
    reply.kwargs = {{"deploy", json::array({GpioPartition(5)})}, {"stop", json::array()}};
    return reply;
  };
  service_->OnReady("ws://c", 1);
  ASSERT_FALSE(conductor_.calls.empty());
  EXPECT_EQ(conductor_.calls[0].first, "ew.conductor.flow.sync");
  EXPECT_EQ(conductor_.calls[0].second["flows"], json::array({{{"flow", "f1"}, {"version", 1}}}));
  EXPECT_EQ(service_->List()->kwargs["flows"][0]["version"], 5);

  conductor_.answers["ew.conductor.flow.sync"] = [](const json&) -> Result<rpc::Reply> {
    rpc::Reply reply;
    reply.kwargs = {{"deploy", json::array()}, {"stop", json::array({"f1"})}};
    return reply;
  };
  service_->OnReady("ws://c", 2);
  EXPECT_EQ(service_->running(), 0u);
}

TEST_F(FlowServiceTest, FunctionNodeCallsTheConductor) {
  ew::flows::Partition p;
  p.flow = "f2";
  p.version = 1;
  p.board = "brd-1";
  p.nodes = {N("f", "edgewire-function", {{"d"}}, {{"function", "double"}, {"placement", "auto"}, {"timeout", 3}}),
             N("d", "debug", {}, {{"complete", "payload"}, {"active", true}})};
  p.inbound = {{"ew.flow.f2.wire.x.0", {"f"}}};
  conductor_.answers["ew.conductor.fn.invoke"] = [](const json& kwargs) -> Result<rpc::Reply> {
    rpc::Reply reply;
    reply.kwargs = {{"result", kwargs["event"].get<int>() * 2}};
    return reply;
  };
  service_->OnReady("ws://c", 1);
  ASSERT_TRUE(service_->Deploy(ew::flows::ToJson(p)));
  rpc::Request e;
  e.procedure = "ew.flow.f2.wire.x.0";
  e.args = json::array({{{"payload", 21}}});
  e.kwargs = {{"seq", 1}, {"from", "cloud"}, {"version", 1}};
  service_->OnWireEvent("f2", e);
  ASSERT_TRUE(RunUntil([&] { return !conductor_.On("ew.flow.f2.debug").empty(); }));
  EXPECT_EQ(conductor_.On("ew.flow.f2.debug")[0].kwargs["msg"], 42);
  json call;
  for (auto& [proc, kw] : conductor_.calls)
    if (proc == "ew.conductor.fn.invoke") call = kw;
  EXPECT_EQ(call["function"], "double");
  EXPECT_EQ(call["placement"], "auto");
  EXPECT_EQ(call["timeout_ms"], 3000);
}

}  // namespace
}  // namespace ew::agent::flows
