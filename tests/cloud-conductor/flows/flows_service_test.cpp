// FlowsService with an in-memory flow store and registry and a FakeBoardGateway: a deploy stores
// the version and sends each board its partition (offline boards get it when they register
// flow.deploy), a refused flow stores nothing, versions that leave a board stop it there (now or
// when it returns), flow.sync answers what a board lacks, and the router hears who may use the
// flow's topics.
#include "cloud-conductor/flows/flows_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "flows/model/partition_json.hpp"
#include "tests/support/fake_board_gateway.hpp"

namespace ew::conductor::flows {
namespace {

using nlohmann::json;

template <typename Pred>
bool Eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

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
      if (p.board_id == board) return p.state;
    }
    return "(none)";
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
  auto outcome = service_->Deploy("prj-1", "door", Flow(), "conductor");
  ASSERT_TRUE(outcome) << outcome.error().error.message;
  EXPECT_TRUE(outcome->created);
  EXPECT_EQ(outcome->flow.version, 1);
  ASSERT_EQ(outcome->partitions.size(), 2u);
  EXPECT_EQ(outcome->partitions[0].board_id, "brd-a");
  EXPECT_EQ(outcome->partitions[0].state, "deployed");
  EXPECT_EQ(outcome->partitions[0].running_version, 1);
  EXPECT_EQ(outcome->partitions[1].state, "offline");
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

TEST_F(FlowsServiceTest, RefusedFlowsStoreNothingAndNameEveryNode) {
  json flow = Flow();
  flow[2]["type"] = "exec";                // not a board type, on board B
  flow[1]["board"] = "brd-x";              // another project's board
  auto outcome = service_->Deploy("prj-1", "door", flow, "conductor");
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().error.code, ErrorCode::kInvalidArgument);
  ASSERT_EQ(outcome.error().issues.size(), 2u);
  EXPECT_EQ(Describe(outcome.error().issues[0]), "node \"in\" (inject) on tab \"t\": is placed on board \"brd-x\" of another project");
  EXPECT_EQ(Describe(outcome.error().issues[1]),
            "node \"out\" (exec) on tab \"t\": type \"exec\" is not implemented by board \"brd-b\"");
  EXPECT_EQ(outcome.error().error.message, Describe(outcome.error().issues[0]) + " (and 1 more)");
  // An invalid export is refused before anything else.
  auto invalid = service_->Deploy("prj-1", "door", json::array({{{"id", "a"}, {"type", "inject"}, {"wires", "x"}}}), "conductor");
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().issues.size(), 2u);
  auto flows = store_->ListFlows("", registry::PageRequest{});
  ASSERT_TRUE(flows);
  EXPECT_TRUE(flows->items.empty());
  EXPECT_TRUE(gateway_.calls().empty());
  EXPECT_TRUE(gateway_.flow_access().empty());
}

TEST_F(FlowsServiceTest, CloudPartitionStateFollowsWhoRunsIt) {
  json flow = Flow();
  flow[0].erase("board");  // the inject goes to the cloud
  auto external = service_->Deploy("prj-1", "ext", flow, "external");
  ASSERT_TRUE(external) << external.error().error.message;
  EXPECT_EQ(external->partitions[0].board_id, "");
  EXPECT_EQ(external->partitions[0].state, "external");
  auto conductor = service_->Deploy("prj-1", "cond", flow, "conductor");
  ASSERT_TRUE(conductor) << conductor.error().error.message;
  // No C++ flow runtime in this conductor yet: the cloud partition waits.
  EXPECT_EQ(conductor->partitions[0].state, "pending");
}

TEST_F(FlowsServiceTest, NewVersionStopsBoardsItLeavesNowOrWhenTheyReturn) {
  gateway_.SetOnline("brd-a");
  auto v1 = service_->Deploy("prj-1", "door", Flow(), "conductor");
  ASSERT_TRUE(v1);
  // Version 2 places nothing on board B, which is offline: it is stopped when it returns.
  auto v2 = service_->Deploy("prj-1", "door", Flow(false), "conductor");
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
  auto v1 = service_->Deploy("prj-1", "door", Flow(), "conductor");
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
  auto v1 = service_->Deploy("prj-1", "door", Flow(), "conductor");
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

}  // namespace
}  // namespace ew::conductor::flows
