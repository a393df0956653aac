// FlowsService with an in-memory flow store and registry and a FakeBoardGateway: a deploy stores
// the version and sends each board its partition (offline boards get it when they register
// flow.deploy), a refused flow stores nothing, versions that leave a board stop it there (now or
// when it returns), flow.sync answers what a board lacks, and the router hears who may use the
// flow's topics.
#include "cloud-conductor/flows/flows_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "flows/model/partition_json.hpp"
#include "tests/support/fake_board_gateway.hpp"
#include "tests/support/eventually.hpp"

namespace ew::conductor::flows {
namespace {

using nlohmann::json;
using contract::PartitionState;

using ::ew::test::Eventually;

json Flow(bool on_b = true) {
  json out = {{"id", "out"}, {"type", "debug"}, {"z", "t"}, {"wires", json::array()}};
  if (on_b) out["board"] = "brd-b";
  return json::array({{{"id", "t"}, {"type", "tab"}, {"board", "brd-a"}},
                      {{"id", "in"}, {"type", "inject"}, {"z", "t"}, {"wires", json::array({json::array({"out"})})}},
                      out});
}

class FlowsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = FlowStore::Open(":memory:");
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    auto registry = registry::OpenSqliteStore(":memory:");
    ASSERT_TRUE(registry) << registry.error().message;
    registry_ = std::move(*registry);
    for (const char* project : {"prj-1", "prj-2"}) {
      registry::Project p;
      p.set_id(project);
      p.set_name(project);
      ASSERT_TRUE(registry_->CreateProject(p));
    }
    for (auto [id, project] : {std::pair{"brd-a", "prj-1"}, {"brd-b", "prj-1"}, {"brd-x", "prj-2"}}) {
      registry::Board b;
      b.set_id(id);
      b.set_name(id);
      b.set_project_id(project);
      ASSERT_TRUE(registry_->CreateBoard(b, std::string("code-") + id, 0));
    }
    // A board answers flow.deploy as the agent does.
    for (const char* board : {"brd-a", "brd-b"}) {
      gateway_.SetScript(board, [](const std::string& procedure, const wamp::Payload& payload) -> Result<wamp::Payload> {
        if (procedure == "flow.deploy") {
          return wamp::Payload{json::array(), {{"flow", payload.kwargs["flow"]}, {"version", payload.kwargs["version"]},
                                               {"state", "running"}}};
        }
        return wamp::Payload{};
      });
    }
    FlowsOptions options;
    options.deploy_wait = std::chrono::seconds(5);
    service_ = std::make_unique<FlowsService>(*store_, *registry_, gateway_, nullptr, pool_, clock_, options);
    ASSERT_TRUE(service_->Start());
  }
  void TearDown() override { pool_.join(); }

  std::vector<testing::FakeBoardGateway::RecordedCall> CallsTo(const std::string& procedure) {
    std::vector<testing::FakeBoardGateway::RecordedCall> out;
    for (auto& call : gateway_.calls()) {
      if (call.procedure == procedure) out.push_back(call);
    }
    return out;
  }
  std::string StateOf(const std::string& flow_id, const std::string& board) {
    auto partitions = store_->ListPartitions(flow_id);
    if (!partitions) return "(error)";
    for (const auto& p : *partitions) {
      if (p.board_id == board) return std::string(contract::Name(p.state));
    }
    return "(none)";
  }
  // Deploy's answer (it comes through a callback).
  DeployResult DeployNow(const std::string& project, const std::string& name, const json& nodes,
                         const std::string& cloud, std::optional<std::chrono::milliseconds> wait = std::nullopt) {
    std::promise<DeployResult> answer;
    service_->Deploy(project, name, nodes, cloud, [&](DeployResult r) { answer.set_value(std::move(r)); }, wait);
    return answer.get_future().get();
  }

  std::unique_ptr<FlowStore> store_;
  std::unique_ptr<registry::Store> registry_;
  testing::FakeBoardGateway gateway_;
  boost::asio::thread_pool pool_{2};
  ManualClock clock_;
  std::unique_ptr<FlowsService> service_;
};

TEST_F(FlowsServiceTest, DeploysOnlineBoardsAndRecordsOfflineOnes) {
  gateway_.SetOnline("brd-a");
  auto outcome = DeployNow("prj-1", "door", Flow(), "conductor");
  ASSERT_TRUE(outcome) << outcome.error().error.message;
  EXPECT_TRUE(outcome->created);
  EXPECT_EQ(outcome->flow.version, 1);
  ASSERT_EQ(outcome->partitions.size(), 2u);
  EXPECT_EQ(outcome->partitions[0].board_id, "brd-a");
  EXPECT_EQ(outcome->partitions[0].state, PartitionState::kDeployed);
  EXPECT_EQ(outcome->partitions[0].running_version, 1);
  EXPECT_EQ(outcome->partitions[1].state, PartitionState::kOffline);
  auto deploys = CallsTo("flow.deploy");
  ASSERT_EQ(deploys.size(), 1u);
  EXPECT_EQ(deploys[0].board_id, "brd-a");
  // What the board got is a partition the runtime reads back.
  auto partition = ew::flows::PartitionFromJson(deploys[0].payload.kwargs);
  ASSERT_TRUE(partition) << partition.error().message;
  EXPECT_EQ(partition->outbound.at(0).topic, "ew.flow." + outcome->flow.id + ".wire.in.0");
  EXPECT_TRUE(Eventually([&] { return StateOf(outcome->flow.id, "brd-a") == "deployed"; }));
  EXPECT_EQ(StateOf(outcome->flow.id, "brd-b"), "offline");
  auto access = gateway_.flow_access();
  ASSERT_EQ(access.count(outcome->flow.id), 1u);
  EXPECT_EQ(access[outcome->flow.id].first, "prj-1");
  EXPECT_EQ(access[outcome->flow.id].second, (std::vector<std::string>{"brd-a", "brd-b"}));

  // Board B returns: registering flow.deploy gets it its partition.
  gateway_.SetOnline("brd-b");
  gateway_.Registered("brd-b", "flow.deploy");
  EXPECT_TRUE(Eventually([&] { return StateOf(outcome->flow.id, "brd-b") == "deployed"; }));
  EXPECT_EQ(CallsTo("flow.deploy").back().board_id, "brd-b");
  // Registering again sends nothing it already runs.
  const size_t before = CallsTo("flow.deploy").size();
  gateway_.Registered("brd-b", "flow.deploy");
  pool_.join();
  EXPECT_EQ(CallsTo("flow.deploy").size(), before);
}

// Issue 14 review: a board whose session ended while it held flow.deploy (the router's
// ew.error.callee_left) is offline, as one that was away before the call: it gets its partition
// when it returns, it did not fail.
TEST_F(FlowsServiceTest, Issue14ABoardThatLeftDuringTheDeployIsOfflineNotFailed) {
  gateway_.SetOnline("brd-a");
  gateway_.SetScript("brd-a", [](const std::string& procedure, const wamp::Payload& p) -> Result<wamp::Payload> {
    if (procedure == "flow.deploy") return CalleeLeft("the callee left before answering");
    return p;
  });
  auto outcome = DeployNow("prj-1", "door", Flow(), "conductor");
  ASSERT_TRUE(outcome) << outcome.error().error.message;
  ASSERT_EQ(outcome->partitions.size(), 2u);
  EXPECT_EQ(outcome->partitions[0].board_id, "brd-a");
  EXPECT_EQ(outcome->partitions[0].state, PartitionState::kOffline);
}

TEST_F(FlowsServiceTest, RefusedFlowsStoreNothingAndNameEveryNode) {
  json flow = Flow();
  flow[2]["type"] = "exec";                // not a board type, on board B
  flow[1]["board"] = "brd-x";              // another project's board
  auto outcome = DeployNow("prj-1", "door", flow, "conductor");
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().error.code, ErrorCode::kInvalidArgument);
  ASSERT_EQ(outcome.error().issues.size(), 2u);
  EXPECT_EQ(Describe(outcome.error().issues[0]), "node \"in\" (inject) on tab \"t\": is placed on board \"brd-x\" of another project");
  EXPECT_EQ(Describe(outcome.error().issues[1]),
            "node \"out\" (exec) on tab \"t\": type \"exec\" is not implemented by board \"brd-b\"");
  EXPECT_EQ(outcome.error().error.message, Describe(outcome.error().issues[0]) + " (and 1 more)");
  // An invalid export is refused before anything else.
  auto invalid = DeployNow("prj-1", "door", json::array({{{"id", "a"}, {"type", "inject"}, {"wires", "x"}}}), "conductor");
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().issues.size(), 2u);
  auto flows = store_->ListFlows("", registry::PageRequest{});
  ASSERT_TRUE(flows);
  EXPECT_TRUE(flows->items.empty());
  EXPECT_TRUE(gateway_.calls().empty());
  EXPECT_TRUE(gateway_.flow_access().empty());
}

// Issue 18 second review M-d: one project cannot fill the conductor with flows (each may hold a
// cloud partition on the thread every project shares).
TEST_F(FlowsServiceTest, AProjectsFlowsAreCappedNewVersionsStillGo) {
  FlowsOptions options;
  options.deploy_wait = std::chrono::seconds(5);
  options.max_flows_per_project = 2;
  service_ = std::make_unique<FlowsService>(*store_, *registry_, gateway_, nullptr, pool_, clock_, options);
  ASSERT_TRUE(service_->Start());
  json flow = Flow();
  ASSERT_TRUE(DeployNow("prj-1", "one", flow, "external"));
  ASSERT_TRUE(DeployNow("prj-1", "two", flow, "external"));
  auto third = DeployNow("prj-1", "three", flow, "external");
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().error.code, ErrorCode::kResourceExhausted);
  EXPECT_NE(third.error().error.message.find("max_per_project"), std::string::npos) << third.error().error.message;
  auto again = DeployNow("prj-1", "one", flow, "external");  // a new version of a flow it has
  ASSERT_TRUE(again) << again.error().error.message;
  EXPECT_EQ(again->flow.version, 2);
  auto flows = store_->ListFlows("prj-1", registry::PageRequest{});
  ASSERT_TRUE(flows);
  EXPECT_EQ(flows->items.size(), 2u);  // the refused one stored nothing
}

TEST_F(FlowsServiceTest, CloudPartitionStateFollowsWhoRunsIt) {
  json flow = Flow();
  flow[0].erase("board");  // the inject goes to the cloud
  auto external = DeployNow("prj-1", "ext", flow, "external");
  ASSERT_TRUE(external) << external.error().error.message;
  EXPECT_EQ(external->partitions[0].board_id, "");
  EXPECT_EQ(external->partitions[0].state, PartitionState::kExternal);
  auto conductor = DeployNow("prj-1", "cond", flow, "conductor");
  ASSERT_TRUE(conductor) << conductor.error().error.message;
  // No cloud runner given to this service: the cloud partition waits.
  EXPECT_EQ(conductor->partitions[0].state, PartitionState::kPending);
}

TEST_F(FlowsServiceTest, NewVersionStopsBoardsItLeavesNowOrWhenTheyReturn) {
  gateway_.SetOnline("brd-a");
  auto v1 = DeployNow("prj-1", "door", Flow(), "conductor");
  ASSERT_TRUE(v1);
  // Version 2 places nothing on board B, which is offline: it is stopped when it returns.
  auto v2 = DeployNow("prj-1", "door", Flow(false), "conductor");
  ASSERT_TRUE(v2) << v2.error().error.message;
  EXPECT_FALSE(v2->created);
  EXPECT_EQ(v2->flow.id, v1->flow.id);
  EXPECT_EQ(v2->flow.version, 2);
  ASSERT_EQ(v2->partitions.size(), 1u);
  EXPECT_EQ(CallsTo("flow.stop").size(), 0u);
  EXPECT_EQ(*store_->BoardStops("brd-b"), std::vector<std::string>{v1->flow.id});
  EXPECT_EQ(gateway_.flow_access()[v1->flow.id].second, std::vector<std::string>{"brd-a"});
  gateway_.SetOnline("brd-b");
  gateway_.Registered("brd-b", "flow.stop");
  EXPECT_TRUE(Eventually([&] { return store_->BoardStops("brd-b")->empty(); }));
  auto stops = CallsTo("flow.stop");
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].payload.kwargs, json({{"flow", v1->flow.id}}));
  // Both versions are kept as posted.
  EXPECT_EQ(store_->GetVersion(v1->flow.id, 1)->nodes, Flow());
  EXPECT_EQ(store_->GetVersion(v1->flow.id, 2)->nodes, Flow(false));
}

TEST_F(FlowsServiceTest, SyncAnswersWhatABoardLacksAndWhatToStop) {
  auto v1 = DeployNow("prj-1", "door", Flow(), "conductor");
  ASSERT_TRUE(v1);
  auto sync = [&](json flows) {
    Result<wamp::Payload> answer = Internal("no answer");
    std::atomic<bool> done{false};
    gateway_.CallConductor("brd-b", "ew.conductor.flow.sync", wamp::Payload{json::array(), {{"flows", flows}}},
                           [&](Result<wamp::Payload> r) {
                             answer = std::move(r);
                             done = true;
                           });
    EXPECT_TRUE(Eventually([&] { return done.load(); }));
    return answer;
  };
  auto first = sync(json::array({{{"flow", "flw-old"}, {"version", 3}}}));
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->kwargs["deploy"].size(), 1u);
  EXPECT_EQ(first->kwargs["deploy"][0]["board"], "brd-b");
  EXPECT_EQ(first->kwargs["stop"], json::array({"flw-old"}));
  auto second = sync(json::array({{{"flow", v1->flow.id}, {"version", 1}}}));
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->kwargs["deploy"].empty());
  EXPECT_EQ(StateOf(v1->flow.id, "brd-b"), "deployed");
  auto bad = sync(json("nope"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(FlowsServiceTest, DeleteStopsEveryBoardAndForgetsTheFlow) {
  gateway_.SetOnline("brd-a");
  auto v1 = DeployNow("prj-1", "door", Flow(), "conductor");
  ASSERT_TRUE(v1);
  ASSERT_TRUE(service_->Delete(v1->flow));
  EXPECT_EQ(store_->GetFlow(v1->flow.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(gateway_.flow_access().count(v1->flow.id), 0u);
  auto stops = CallsTo("flow.stop");
  ASSERT_EQ(stops.size(), 1u);
  EXPECT_EQ(stops[0].board_id, "brd-a");
  EXPECT_TRUE(Eventually([&] { return store_->BoardStops("brd-a")->empty(); }));
  EXPECT_EQ(*store_->BoardStops("brd-b"), std::vector<std::string>{v1->flow.id});
}

TEST_F(FlowsServiceTest, DeployAnswersAfterItsWaitWhenABoardHangsAndRecordsItLater) {
  gateway_.SetOnline("brd-a");
  gateway_.SetOnline("brd-b");
  gateway_.SetSilent("brd-b");
  const auto start = std::chrono::steady_clock::now();
  auto outcome = DeployNow("prj-1", "door", Flow(), "conductor", std::chrono::milliseconds(200));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(outcome) << outcome.error().error.message;
  EXPECT_GE(took, std::chrono::milliseconds(200));
  EXPECT_LT(took, std::chrono::seconds(3));
  EXPECT_EQ(outcome->partitions[0].state, PartitionState::kDeployed);
  EXPECT_EQ(outcome->partitions[1].state, PartitionState::kPending);
  // Its answer, when it comes, is recorded.
  gateway_.Release();
  EXPECT_TRUE(Eventually([&] { return StateOf(outcome->flow.id, "brd-b") == "offline"; }));
}

TEST_F(FlowsServiceTest, GpioNodesLeftInTheConductorsCloudAreRefused) {
  json flow = Flow();
  flow[0].erase("board");
  flow[2].erase("board");
  flow[2]["type"] = "edgewire-gpio-out";
  flow[2]["line"] = 27;
  auto outcome = DeployNow("prj-1", "door", flow, "conductor");
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().error.message.find("node \"out\" (edgewire-gpio-out) on tab \"t\": needs a board's GPIO"),
            std::string::npos)
      << outcome.error().error.message;
  // In the user's Node-RED ("external") it is the palette's business.
  EXPECT_TRUE(DeployNow("prj-1", "door", flow, "external"));
}

// The same service with a real CloudFlowRunner: the cloud partition runs in the conductor.
class CloudFlowsTest : public FlowsServiceTest {
 protected:
  void SetUp() override {
    FlowsServiceTest::SetUp();
    CloudFlowRunnerOptions options;
    options.run_id = "test";
    runner_ = std::make_unique<CloudFlowRunner>(
        gateway_, system_clock_,
        [this](const std::string& flow_id, const ew::flows::runtime::FunctionCall& call,
               std::function<void(Result<json>)> done) { cloud_service_->InvokeFromCloud(flow_id, call, std::move(done)); },
        options);
    FlowsOptions flows_options;
    flows_options.deploy_wait = std::chrono::seconds(5);
    cloud_service_ = std::make_unique<FlowsService>(*store_, *registry_, gateway_, nullptr, pool_, system_clock_,
                                                    flows_options, runner_.get());
    ASSERT_TRUE(cloud_service_->Start());
  }
  void TearDown() override {
    runner_.reset();
    FlowsServiceTest::TearDown();
  }
  DeployResult CloudDeploy(const json& nodes) {
    std::promise<DeployResult> answer;
    cloud_service_->Deploy("prj-1", "mixed", nodes, "conductor", [&](DeployResult r) { answer.set_value(std::move(r)); });
    return answer.get_future().get();
  }
  std::vector<std::pair<std::string, wamp::Payload>> EventsOn(const std::string& topic) {
    std::vector<std::pair<std::string, wamp::Payload>> out;
    for (auto& e : gateway_.flow_events()) {
      if (e.first == topic) out.push_back(e);
    }
    return out;
  }

  SystemClock system_clock_;
  std::unique_ptr<CloudFlowRunner> runner_;
  std::unique_ptr<FlowsService> cloud_service_;
};

// Cloud: inject (once) → board A's change node, and board A's change → a cloud debug node.
json Mixed() {
  return json::array({
      {{"id", "tc"}, {"type", "tab"}},
      {{"id", "inj"}, {"type", "inject"}, {"z", "tc"}, {"once", true}, {"onceDelay", 0}, {"payload", "hello"},
       {"payloadType", "str"}, {"wires", json::array({json::array({"ch"})})}},
      {{"id", "ch"}, {"type", "change"}, {"z", "tc"}, {"board", "brd-a"}, {"rules", json::array()}, {"wires", json::array({json::array({"dbg"})})}},
      {{"id", "dbg"}, {"type", "debug"}, {"z", "tc"}, {"name", "cloud debug"}, {"active", true}, {"wires", json::array()}},
  });
}

TEST_F(CloudFlowsTest, CloudPartitionRunsInTheConductorOnTheSameWires) {
  gateway_.SetOnline("brd-a");
  auto outcome = CloudDeploy(Mixed());
  ASSERT_TRUE(outcome) << outcome.error().error.message;
  ASSERT_EQ(outcome->partitions[0].board_id, "");
  EXPECT_EQ(outcome->partitions[0].state, PartitionState::kDeployed);
  EXPECT_EQ(outcome->partitions[1].state, PartitionState::kDeployed);
  const std::string id = outcome->flow.id;
  EXPECT_TRUE(Eventually([&] { return StateOf(id, "") == "deployed"; }));

  // The inject went out on its wire, numbered, from this conductor run.
  const std::string out_topic = "ew.flow." + id + ".wire.inj.0";
  ASSERT_TRUE(Eventually([&] { return !EventsOn(out_topic).empty(); }));
  auto sent = EventsOn(out_topic)[0].second;
  EXPECT_EQ(sent.args[0]["payload"], "hello");
  EXPECT_EQ(sent.kwargs["seq"], 1);
  EXPECT_EQ(sent.kwargs["from"], "cloud:test");
  EXPECT_EQ(sent.kwargs["version"], 1);

  // What board A sends on its wire reaches the cloud debug node, in order, once each.
  const std::string in_topic = "ew.flow." + id + ".wire.ch.0";
  auto wire = [&](int seq, int value) {
    gateway_.PublishFlow(in_topic, wamp::Payload{json::array({{{"payload", value}}}),
                                                 {{"seq", seq}, {"from", "brd-a"}, {"version", 1}}});
  };
  wire(1, 10);
  wire(3, 30);  // early: held until 2 comes
  wire(1, 10);  // a duplicate
  wire(2, 20);
  const std::string debug_topic = "ew.flow." + id + ".debug";
  ASSERT_TRUE(Eventually([&] { return EventsOn(debug_topic).size() >= 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // no fourth one is coming
  auto debug = EventsOn(debug_topic);
  ASSERT_EQ(debug.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(debug[i].second.kwargs["msg"], 10 * (i + 1));
    EXPECT_EQ(debug[i].second.kwargs["board"], "");
    EXPECT_EQ(debug[i].second.kwargs["node"], "dbg");
  }
  // Topics of other flows, or of no inbound wire, are not taken in.
  gateway_.PublishFlow("ew.flow." + id + ".wire.inj.0", wamp::Payload{json::array({{{"payload", 1}}}),
                                                                     {{"seq", 9}, {"from", "x"}, {"version", 1}}});

  // Status: the cloud partition is online, running version 1.
  std::promise<Result<std::vector<PartitionStatus>>> status;
  cloud_service_->Status(outcome->flow, [&](Result<std::vector<PartitionStatus>> r) { status.set_value(std::move(r)); });
  auto statuses = status.get_future().get();
  ASSERT_TRUE(statuses) << statuses.error().message;
  EXPECT_TRUE((*statuses)[0].online);
  EXPECT_EQ((*statuses)[0].running_version, 1);

  // Delete stops it: nothing more reaches the debug node.
  ASSERT_TRUE(cloud_service_->Delete(outcome->flow));
  std::promise<contract::flow::ListReply> listed;
  runner_->List([&](contract::flow::ListReply r) { listed.set_value(std::move(r)); });
  EXPECT_TRUE(listed.get_future().get().flows.empty());
  wire(4, 40);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(EventsOn(debug_topic).size(), 3u);
}

TEST_F(CloudFlowsTest, NewVersionReplacesTheCloudPartitionAndOlderOnesAreRefused) {
  gateway_.SetOnline("brd-a");
  auto v1 = CloudDeploy(Mixed());
  ASSERT_TRUE(v1);
  json second = Mixed();
  second[1]["payload"] = "v2";
  auto v2 = CloudDeploy(second);
  ASSERT_TRUE(v2) << v2.error().error.message;
  EXPECT_EQ(v2->flow.version, 2);
  EXPECT_EQ(v2->partitions[0].state, PartitionState::kDeployed);
  const std::string out_topic = "ew.flow." + v1->flow.id + ".wire.inj.0";
  ASSERT_TRUE(Eventually([&] {
    for (auto& e : EventsOn(out_topic)) {
      if (e.second.kwargs["version"] == 2) return e.second.args[0]["payload"] == "v2" && e.second.kwargs["seq"] == 1;
    }
    return false;
  }));
  // The runner refuses to go back to version 1.
  auto stored = store_->ListPartitions(v1->flow.id);
  json old_partition = (*stored)[0].partition;
  old_partition["version"] = 1;
  std::promise<Result<contract::flow::FlowState>> answer;
  runner_->Deploy(old_partition, [&](Result<contract::flow::FlowState> r) { answer.set_value(std::move(r)); });
  auto refused = answer.get_future().get();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  // A cloud partition with a node the runtime cannot build is refused by the runner too.
  json bad = (*stored)[0].partition;
  bad["version"] = 3;
  bad["nodes"][0]["type"] = "no-such-type";
  std::promise<Result<contract::flow::FlowState>> bad_answer;
  runner_->Deploy(bad, [&](Result<contract::flow::FlowState> r) { bad_answer.set_value(std::move(r)); });
  auto bad_result = bad_answer.get_future().get();
  ASSERT_FALSE(bad_result);
  EXPECT_EQ(bad_result.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ew::conductor::flows
