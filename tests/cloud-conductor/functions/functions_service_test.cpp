// FunctionsService with an in-memory store, a FakeBoardGateway (boards answer from scripts) and a
// fake container runtime for the cloud: uploads by hash, deployments and their states (offline
// boards catch up when they register), what ew.conductor.fn.fetch serves and to whom, boards
// cleaned of functions they no longer have, and invocations on boards and in the cloud.
#include "cloud-conductor/functions/functions_service.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "common/contract/sys.hpp"
#include "common/ids/ids.hpp"
#include "containers/package/package.hpp"
#include "tests/support/fake_board_gateway.hpp"
#include "tests/support/fake_container_runtime.hpp"
#include "tests/support/eventually.hpp"

namespace ew::functions {
namespace {

// Every row of a paged list (the tests hold fewer than a page).
const registry::PageRequest kAllRows{registry::kMaxPageLimit, ""};
template <typename T>
Result<std::vector<T>> Items(Result<registry::Page<T>> page) {
  if (!page) return tl::unexpected(page.error());
  return std::move(page->items);
}

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

// A package made the way the CLI makes it: function.json + main.sh, packed.
std::string MakePackage(const fs::path& scratch, const json& spec, const std::string& script = "echo '{}'\n") {
  const fs::path dir = scratch / ids::NewId("src");
  fs::create_directories(dir);
  std::ofstream(dir / "function.json") << spec.dump();
  std::ofstream(dir / "main.sh") << script;
  fs::permissions(dir / "main.sh", fs::perms(0755));
  auto packed = containers::PackDirectory(dir);
  EXPECT_TRUE(packed) << packed.error().message;
  return packed ? *packed : std::string();
}

json Spec(const std::string& name, const std::string& version = "1.0.0") {
  return {{"name", name}, {"version", version}, {"runtime", "sh"}, {"entrypoint", "main.sh"}, {"timeoutMs", 2000}};
}

using ::ew::test::Eventually;

Result<wamp::Payload> Kwargs(json kwargs) { return wamp::Payload{json::array(), std::move(kwargs)}; }

class FunctionsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scratch_ = fs::temp_directory_path() / ids::NewId("ew-fnsvc");
    fs::create_directories(scratch_);
    auto store = FunctionStore::Open(":memory:");
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    io_thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    pool_.join();
    service_.reset();
    work_.reset();
    io_.stop();
    io_thread_.join();
    std::error_code ec;
    fs::remove_all(scratch_, ec);
  }

  // Starts the service; `runtime` = "none" (no cloud) or "fake" (the fake runtime).
  void StartService(const std::string& runtime = "none", InvokerOptions invoker = {},
                    const std::function<void(FunctionsOptions&)>& tweak = nullptr) {
    FunctionsOptions options;
    invoker.random_seed = 42;
    options.invoker = invoker;
    options.dir = scratch_ / "functions";
    options.cloud_runtime = runtime == "fake" ? "auto" : runtime;
    options.invoke_grace = milliseconds(5000);
    options.placement_flush_interval = flush_interval_;
    if (runtime == "fake") {
      options.make_runtime =
          [state =
               runtime_](const containers::RuntimeConfig&) -> Result<std::unique_ptr<containers::ContainerRuntime>> {
        return std::unique_ptr<containers::ContainerRuntime>(new containers::testing::FakeRuntime(state));
      };
    }
    if (tweak) tweak(options);
    service_ = std::make_unique<FunctionsService>(*store_, gateway_, pool_, io_.get_executor(), clock_, options);
    ASSERT_TRUE(service_->Start());
  }

  FunctionRecord Upload(const json& spec, const std::string& script = "echo '{}'\n") {
    auto uploaded = service_->Upload("prj-1", MakePackage(scratch_, spec, script));
    EXPECT_TRUE(uploaded) << uploaded.error().message;
    return uploaded ? *uploaded : FunctionRecord{};
  }

  std::string StateOf(const std::string& function_id, const std::string& board_id) {
    auto d = store_->GetDeployment(function_id, board_id);
    return d && *d ? std::string(contract::Name((*d)->state)) : "<none>";
  }

  // Deploys on an online board that accepts it, and waits for "deployed".
  void DeployOn(const FunctionRecord& function, const std::string& board_id) {
    ASSERT_TRUE(service_->Deploy(function, {board_id}));
    ASSERT_TRUE(Eventually([&] { return StateOf(function.id, board_id) == "deployed"; }))
        << StateOf(function.id, board_id);
  }

  // Runs an invocation to its end; an error before it starts comes back as the outcome's error.
  InvocationOutcome InvokeAndWait(const FunctionRecord& function, const std::string& target, json event,
                                  InvokeOptions options = {}) {
    return InvokeAndWait(function, Placement::OfTarget(target), std::move(event), options);
  }
  InvocationOutcome InvokeAndWait(const FunctionRecord& function, const Placement& target, json event,
                                  InvokeOptions options = {}) {
    auto promise = std::make_shared<std::promise<InvocationOutcome>>();
    auto future = promise->get_future();
    auto started = service_->Invoke(function, target, std::move(event), options,
                                    [promise](InvocationOutcome outcome) { promise->set_value(std::move(outcome)); });
    if (!started) return InvocationOutcome{json(), started.error()};
    if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << "the invocation did not end";
      return {};
    }
    auto outcome = future.get();
    EXPECT_EQ(outcome.record.value("invocationId", ""), *started);
    return outcome;
  }

  // Calls a conductor procedure as `board_id` would.
  Result<wamp::Payload> CallAsBoard(const std::string& board_id, const std::string& procedure, json kwargs) {
    auto promise = std::make_shared<std::promise<Result<wamp::Payload>>>();
    auto future = promise->get_future();
    gateway_.CallConductor(board_id, procedure, wamp::Payload{json::array(), std::move(kwargs)},
                           [promise](Result<wamp::Payload> r) { promise->set_value(std::move(r)); });
    if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return Internal("no answer");
    return future.get();
  }
  Result<wamp::Payload> Fetch(const std::string& board_id, json kwargs) {
    return CallAsBoard(board_id, "ew.conductor.fn.fetch", std::move(kwargs));
  }

  // Boards that answer fn.invoke after `took` of the (manual) clock: the conductor measures that.
  void BoardTakes(const std::string& board_id, milliseconds took) {
    gateway_.SetScript(board_id, [this, took](const std::string& procedure, const wamp::Payload& payload) -> Result<wamp::Payload> {
      if (procedure != "fn.invoke") return payload;
      clock_.Advance(took);
      return Kwargs({{"status", "succeeded"}, {"output", {{"ran", "yes"}}}});
    });
  }
  size_t InvokesOn(const std::string& board_id) {
    size_t n = 0;
    for (auto& call : gateway_.calls()) n += call.procedure == "fn.invoke" && call.board_id == board_id;
    return n;
  }

  std::vector<testing::FakeBoardGateway::RecordedCall> CallsOf(const std::string& procedure) {
    std::vector<testing::FakeBoardGateway::RecordedCall> out;
    for (auto& call : gateway_.calls()) {
      if (call.procedure == procedure) out.push_back(call);
    }
    return out;
  }

  fs::path scratch_;
  std::unique_ptr<FunctionStore> store_;
  testing::FakeBoardGateway gateway_;
  ManualClock clock_;
  std::shared_ptr<containers::testing::FakeRuntimeState> runtime_ =
      std::make_shared<containers::testing::FakeRuntimeState>();
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{io_.get_executor()};
  std::thread io_thread_;
  boost::asio::thread_pool pool_{2};
  std::unique_ptr<FunctionsService> service_;
  milliseconds flush_interval_{600'000};  // placement statistics: flushed by the tests themselves
};

TEST_F(FunctionsServiceTest, UploadsAreStoredByHashAndEachNewPackageIsAVersion) {
  StartService();
  const std::string bytes = MakePackage(scratch_, Spec("double"));
  auto first = service_->Upload("prj-1", bytes);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->latest.sha256, ids::Sha256Hex(bytes));
  EXPECT_EQ(first->latest.size, bytes.size());
  EXPECT_EQ(first->latest.spec.timeout, milliseconds(2000));
  const fs::path stored = scratch_ / "functions" / "packages" / (first->latest.sha256 + ".tar.gz");
  ASSERT_TRUE(fs::exists(stored));
  EXPECT_EQ(fs::file_size(stored), bytes.size());
  // The same bytes again: idempotent.
  auto again = service_->Upload("prj-1", bytes);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(store_->ListVersions(first->id)->size(), 1u);
  // New content under the same name: version 2 of the same function.
  auto second = service_->Upload("prj-1", MakePackage(scratch_, Spec("double", "1.1.0")));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->latest.version, "1.1.0");
  EXPECT_EQ(second->latest.seq, 2);
  // An invalid manifest names its field and leaves nothing behind.
  auto bad = service_->Upload(
      "prj-1",
      MakePackage(scratch_, json{{"name", "bad"}, {"version", "1"}, {"runtime", "cobol"}, {"entrypoint", "main.sh"}}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("runtime"), std::string::npos) << bad.error().message;
  EXPECT_EQ(Items(store_->ListFunctions("", kAllRows))->size(), 1u);
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(scratch_ / "functions" / "packages")) ++files;
  EXPECT_EQ(files, 2u);
  // Deleting the function frees its packages.
  ASSERT_TRUE(service_->Delete(*second));
  EXPECT_FALSE(fs::exists(stored));
}

TEST_F(FunctionsServiceTest, DeploymentCallsTheBoardAndRecordsHowItWent) {
  StartService();
  auto function = Upload(Spec("double"));
  gateway_.SetOnline("brd-ok");
  gateway_.SetOnline("brd-full");
  gateway_.SetScript("brd-full", [](const std::string&, const wamp::Payload&) -> Result<wamp::Payload> {
    return Internal("no space left on device");
  });
  auto started = service_->Deploy(function, {"brd-ok", "brd-full"});
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_EQ(started->size(), 2u);
  EXPECT_EQ((*started)[0].state, DeploymentState::kDeploying);
  ASSERT_TRUE(Eventually([&] { return StateOf(function.id, "brd-ok") == "deployed"; }));
  ASSERT_TRUE(Eventually([&] { return StateOf(function.id, "brd-full") == "failed"; }));
  EXPECT_NE((*store_->GetDeployment(function.id, "brd-full"))->error.find("no space"), std::string::npos);

  auto calls = CallsOf("fn.deploy");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].payload.kwargs, (json{{"functionId", function.id},
                                           {"version", "1.0.0"},
                                           {"sha256", function.latest.sha256},
                                           {"size", function.latest.size}}));
  EXPECT_GE(calls[0].timeout, std::chrono::seconds(60));
}

// Issue #11 (item 5): a board whose runtime cannot enforce a limit says so in its fn.deploy
// reply; the deployment is deployed and carries the warning as its message (bounded: the board
// is not trusted).
TEST_F(FunctionsServiceTest, Issue11_LimitWarningsOfTheBoardAreKeptWithTheDeployment) {
  StartService();
  auto function = Upload(Spec("double"));
  gateway_.SetOnline("brd-rl");
  gateway_.SetScript("brd-rl", [](const std::string&, const wamp::Payload&) -> Result<wamp::Payload> {
    json warnings = json::array({"not enforced by bwrap on this board: CPU quota", 42, std::string(1000, 'x')});
    for (int i = 0; i < 10; ++i) warnings.push_back("more\nlines");
    return wamp::Payload{json::array(), json{{"cached", false}, {"warnings", warnings}}};
  });
  ASSERT_TRUE(service_->Deploy(function, {"brd-rl"}));
  ASSERT_TRUE(Eventually([&] { return StateOf(function.id, "brd-rl") == "deployed"; }));
  const std::string error = (*store_->GetDeployment(function.id, "brd-rl"))->error;
  EXPECT_EQ(error.rfind("not enforced by bwrap on this board: CPU quota; " + std::string(256, 'x'), 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_LT(error.size(), 4u * 260) << error;
}

TEST_F(FunctionsServiceTest, AnOfflineBoardGetsItsDeploymentWhenItRegisters) {
  StartService();
  auto function = Upload(Spec("double"));
  auto started = service_->Deploy(function, {"brd-1"});
  ASSERT_TRUE(started);
  EXPECT_EQ((*started)[0].state, DeploymentState::kPending);
  EXPECT_TRUE(CallsOf("fn.deploy").empty());
  EXPECT_EQ(StateOf(function.id, "brd-1"), "pending");

  gateway_.SetOnline("brd-1");
  gateway_.Registered("brd-1", "sys.info");  // not the moment yet
  gateway_.Registered("brd-1", "fn.deploy");
  ASSERT_TRUE(Eventually([&] { return StateOf(function.id, "brd-1") == "deployed"; }));
  EXPECT_EQ(CallsOf("fn.deploy").size(), 1u);
}

TEST_F(FunctionsServiceTest, AnOlderVersionCanBeDeployedByItsLabel) {
  StartService();
  auto v1 = Upload(Spec("double", "1.0.0"));
  auto v2 = Upload(Spec("double", "2.0.0"), "echo '{\"v\": 2}'\n");
  auto found = service_->FindVersion(v2, "1.0.0");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->sha256, v1.latest.sha256);
  auto missing = service_->FindVersion(v2, "3.0.0");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(missing.error().message.find("1.0.0, 2.0.0"), std::string::npos) << missing.error().message;

  ASSERT_TRUE(service_->Deploy(v2, {"brd-1"}, *found));
  auto d = store_->GetDeployment(v2.id, "brd-1");
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->version, "1.0.0");
  EXPECT_EQ((*d)->sha256, v1.latest.sha256);
}

TEST_F(FunctionsServiceTest, FetchServesChunksOnlyToBoardsThePackageIsDeployedTo) {
  StartService();
  // Incompressible content makes a package of several chunks.
  std::string noise;
  for (int i = 0; noise.size() < 600'000; ++i) noise += ids::Sha256Hex(std::to_string(i));
  const std::string bytes = MakePackage(scratch_, Spec("big"), "# " + noise + "\necho '{}'\n");
  auto function = service_->Upload("prj-1", bytes);
  ASSERT_TRUE(function) << function.error().message;
  const std::string sha = function->latest.sha256;
  ASSERT_TRUE(service_->Deploy(*function, {"brd-1"}));  // offline: pending, still allowed to fetch

  auto denied = Fetch("brd-2", {{"sha256", sha}, {"offset", 0}, {"length", 1024}});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied);
  auto too_long = Fetch("brd-1", {{"sha256", sha}, {"offset", 0}, {"length", (256 << 10) + 1}});
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidArgument);
  auto bad_hash = Fetch("brd-1", {{"sha256", "ABC"}, {"offset", 0}, {"length", 1}});
  ASSERT_FALSE(bad_hash);
  EXPECT_NE(bad_hash.error().message.find("sha256"), std::string::npos);

  std::string assembled;
  while (assembled.size() < bytes.size()) {
    auto chunk = Fetch("brd-1", {{"sha256", sha}, {"offset", assembled.size()}, {"length", 256 << 10}});
    ASSERT_TRUE(chunk) << chunk.error().message;
    EXPECT_EQ(chunk->kwargs["size"], bytes.size());
    ASSERT_TRUE(chunk->args[0].is_binary());
    const auto& data = chunk->args[0].get_binary();
    ASSERT_FALSE(data.empty());
    ASSERT_LE(data.size(), 256u << 10);
    assembled.append(data.begin(), data.end());
  }
  EXPECT_GT(bytes.size(), 256u << 10);
  EXPECT_EQ(assembled, bytes);
  auto past_end = Fetch("brd-1", {{"sha256", sha}, {"offset", bytes.size() + 1}, {"length", 1}});
  EXPECT_FALSE(past_end);

  // Undeployed: no longer served.
  ASSERT_TRUE(service_->Undeploy(*function, "brd-1"));
  auto after = Fetch("brd-1", {{"sha256", sha}, {"offset", 0}, {"length", 1}});
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(FunctionsServiceTest, BoardsReportTheTriggerInvocationsTheyRanIntoTheHistory) {
  StartService();
  auto function = Upload(Spec("mirror"));
  ASSERT_TRUE(service_->Deploy(function, {"brd-1"}));  // recorded even while the board is away
  const json ran = {{"status", "succeeded"}, {"output", {{"ok", true}}}, {"runMs", 12.5},
                    {"trigger", {{"line", "GPIO4"}, {"edge", "rising"}, {"seq", 7}}}, {"at", 1000}};
  auto reported = CallAsBoard("brd-1", "ew.conductor.fn.report",
                              {{"functionId", function.id}, {"records", json::array({ran, {{"status", "weird"}}})}});
  ASSERT_TRUE(reported) << reported.error().message;
  EXPECT_EQ(reported->kwargs["stored"], 2);
  auto listed = Items(store_->ListInvocations(function.id, {10, ""}));
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  std::map<std::string, InvocationSummary> by_status;
  for (const auto& i : *listed) by_status[std::string(contract::Name(i.status))] = i;
  ASSERT_TRUE(by_status.count("succeeded"));
  EXPECT_EQ(by_status["succeeded"].target, "brd-1");
  EXPECT_EQ(by_status["succeeded"].created_at, 1000);
  EXPECT_EQ(by_status["succeeded"].record["trigger"]["seq"], 7);
  EXPECT_EQ(by_status["succeeded"].record["boardId"], "brd-1");
  EXPECT_EQ(by_status["succeeded"].record["invocationId"], by_status["succeeded"].id);
  EXPECT_TRUE(by_status.count("failed")) << "an unknown status is stored as failed";

  // Only for functions deployed on the reporting board; bad reports are refused whole.
  auto other = CallAsBoard("brd-2", "ew.conductor.fn.report", {{"functionId", function.id}, {"records", {ran}}});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kPermissionDenied);
  for (const json& bad : {json{{"records", {ran}}}, json{{"functionId", function.id}},
                          json{{"functionId", function.id}, {"records", json::array()}},
                          json{{"functionId", function.id}, {"records", "x"}}}) {
    auto refused = CallAsBoard("brd-1", "ew.conductor.fn.report", bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument) << bad;
  }
  json too_many = json::array();
  for (int i = 0; i < 101; ++i) too_many.push_back(ran);
  EXPECT_FALSE(CallAsBoard("brd-1", "ew.conductor.fn.report", {{"functionId", function.id}, {"records", too_many}}));
  EXPECT_EQ(Items(store_->ListInvocations(function.id, {10, ""}))->size(), 2u);
}

// Issue 14: a report re-sent after its answer was lost in a network cut carries the same spool
// seqs, and the conductor stores each once; a new spool (identity) numbers from 1 again.
TEST_F(FunctionsServiceTest, AReportSentAgainAfterACutIsStoredOnce) {
  StartService();
  auto function = Upload(Spec("mirror"));
  ASSERT_TRUE(service_->Deploy(function, {"brd-1"}));
  auto record = [](int n) { return json{{"status", "succeeded"}, {"output", n}, {"at", 1000 + n}}; };
  auto report = [&](std::vector<int> seqs, const std::string& spool = "00112233aabbccdd") {
    json records = json::array();
    for (int n : seqs) records.push_back(record(n));
    return CallAsBoard("brd-1", "ew.conductor.fn.report",
                       {{"functionId", function.id}, {"records", records}, {"spool", spool}, {"seqs", seqs}});
  };
  auto first = report({1, 2, 3});
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->kwargs["stored"], 3);
  auto again = report({2, 3, 4});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->kwargs["stored"], 1);
  EXPECT_EQ(Items(store_->ListInvocations(function.id, {10, ""}))->size(), 4u);
  EXPECT_EQ(report({1}, "ffeeddccbbaa9988")->kwargs["stored"], 1);
  // Seqs that do not match the records are refused whole.
  for (const json& bad : {json{{"functionId", function.id}, {"records", {record(9)}}, {"spool", "00112233aabbccdd"}, {"seqs", {9, 10}}},
                          json{{"functionId", function.id}, {"records", {record(9), record(8)}}, {"spool", "00112233aabbccdd"}, {"seqs", {9, 8}}},
                          json{{"functionId", function.id}, {"records", {record(9)}}, {"seqs", {9}}}}) {
    auto refused = CallAsBoard("brd-1", "ew.conductor.fn.report", bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(Items(store_->ListInvocations(function.id, {10, ""}))->size(), 5u);
}

TEST_F(FunctionsServiceTest, AReturningBoardLosesFunctionsUndeployedWhileItWasAway) {
  StartService();
  auto kept = Upload(Spec("kept"));
  auto gone = Upload(Spec("gone"));
  ASSERT_TRUE(service_->Deploy(kept, {"brd-1"}));
  ASSERT_TRUE(service_->Deploy(gone, {"brd-1"}));
  ASSERT_TRUE(service_->Undeploy(gone, "brd-1"));  // offline: the board still has it
  EXPECT_TRUE(CallsOf("fn.remove").empty());

  gateway_.SetOnline("brd-1");
  gateway_.SetScript("brd-1", [&](const std::string& procedure, const wamp::Payload& payload) -> Result<wamp::Payload> {
    if (procedure == "fn.list")
      return Kwargs({{"functions", json::array({{{"functionId", kept.id}}, {{"functionId", gone.id}}})}});
    return payload;
  });
  gateway_.Registered("brd-1", "fn.list");
  ASSERT_TRUE(Eventually([&] { return !CallsOf("fn.remove").empty(); }));
  auto removes = CallsOf("fn.remove");
  ASSERT_EQ(removes.size(), 1u);
  EXPECT_EQ(removes[0].payload.kwargs["functionId"], gone.id);
}

TEST_F(FunctionsServiceTest, BoardInvocationsCheckTheDeploymentFirst) {
  StartService();
  auto function = Upload(Spec("double"));
  auto not_deployed = InvokeAndWait(function, "brd-1", {});
  ASSERT_TRUE(not_deployed.error);
  EXPECT_EQ(not_deployed.error->code, ErrorCode::kConflict);

  ASSERT_TRUE(service_->Deploy(function, {"brd-1"}));  // pending, board offline
  auto offline = InvokeAndWait(function, "brd-1", {});
  ASSERT_TRUE(offline.error);
  EXPECT_EQ(offline.error->code, ErrorCode::kUnavailable);

  gateway_.SetOnline("brd-1");
  gateway_.SetScript("brd-1", [](const std::string&, const wamp::Payload&) -> Result<wamp::Payload> {
    return Internal("sha256 mismatch");
  });
  gateway_.Registered("brd-1", "fn.deploy");
  ASSERT_TRUE(Eventually([&] { return StateOf(function.id, "brd-1") == "failed"; }));
  auto failed = InvokeAndWait(function, "brd-1", {});
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, ErrorCode::kConflict);
  EXPECT_NE(failed.error->message.find("sha256 mismatch"), std::string::npos) << failed.error->message;
  // None of these ran: nothing was recorded.
  EXPECT_TRUE(Items(store_->ListInvocations(function.id, {10, ""}))->empty());
  EXPECT_TRUE(CallsOf("fn.invoke").empty());
}

TEST_F(FunctionsServiceTest, BoardInvocationRecordsAreLabelledAndStored) {
  StartService();
  auto function = Upload(Spec("double"));
  gateway_.SetOnline("brd-1");
  DeployOn(function, "brd-1");
  gateway_.SetScript("brd-1", [](const std::string& procedure, const wamp::Payload& payload) -> Result<wamp::Payload> {
    if (procedure != "fn.invoke") return payload;
    const int n = payload.kwargs["event"].value("n", 0);
    if (n < 0) return Kwargs({{"status", "failed"}, {"error", "exit status 3"}, {"exitCode", 3}});
    return Kwargs({{"status", "succeeded"}, {"output", {{"double", 2 * n}}}, {"runtime", "runc"}});
  });
  auto ok = InvokeAndWait(function, "brd-1", {{"n", 21}});
  ASSERT_FALSE(ok.error) << ok.error->message;
  EXPECT_EQ(ok.record["output"]["double"], 42);
  EXPECT_EQ(ok.record["boardId"], "brd-1");
  auto invoke = CallsOf("fn.invoke").back();
  EXPECT_EQ(invoke.payload.kwargs, (json{{"functionId", function.id}, {"event", {{"n", 21}}}}));
  EXPECT_EQ(invoke.timeout, milliseconds(2000 + 5000));  // the function's timeout + grace
  // Stored right after the caller hears of it (off the invocation's path).
  ASSERT_TRUE(Eventually([&] { return store_->GetInvocation(function.id, ok.record["invocationId"]).has_value(); }));
  auto stored = store_->GetInvocation(function.id, ok.record["invocationId"]);
  EXPECT_EQ(stored->status, InvocationStatus::kSucceeded);
  EXPECT_EQ(stored->target, "brd-1");

  auto failed = InvokeAndWait(function, "brd-1", {{"n", -1}}, InvokeOptions{false, milliseconds(1234)});
  EXPECT_FALSE(failed.error);
  EXPECT_EQ(failed.record["status"], "failed");
  EXPECT_EQ(CallsOf("fn.invoke").back().timeout, milliseconds(1234));
  EXPECT_TRUE(Eventually([&] { return Items(store_->ListInvocations(function.id, {10, ""}))->size() == 2u; }));
}

TEST_F(FunctionsServiceTest, ABoardThatDoesNotAnswerOrLacksTheFunctionGivesARecordToo) {
  StartService();
  auto function = Upload(Spec("double"));
  gateway_.SetOnline("brd-1");
  DeployOn(function, "brd-1");
  gateway_.SetScript("brd-1", [](const std::string&, const wamp::Payload& payload) -> Result<wamp::Payload> {
    if (payload.kwargs["event"] == "slow") return DeadlineExceeded("no answer within 7000 ms");
    if (payload.kwargs["event"] == "wiped") return NotFound("function is not deployed on board brd-1");
    return Kwargs({{"not", "a record"}});
  });
  auto slow = InvokeAndWait(function, "brd-1", "slow");
  EXPECT_FALSE(slow.error);
  EXPECT_EQ(slow.record["status"], "timed_out");
  auto wiped = InvokeAndWait(function, "brd-1", "wiped");
  ASSERT_TRUE(wiped.error);
  EXPECT_EQ(wiped.error->code, ErrorCode::kConflict);
  EXPECT_EQ(wiped.record["status"], "failed");
  auto odd = InvokeAndWait(function, "brd-1", "odd");
  ASSERT_TRUE(odd.error);
  EXPECT_EQ(odd.error->code, ErrorCode::kInternal);
  ASSERT_TRUE(Eventually([&] { return Items(store_->ListInvocations(function.id, {10, ""}))->size() == 3u; }));
  auto list = Items(store_->ListInvocations(function.id, {10, ""}));
  for (const auto& i : *list) EXPECT_EQ(i.record["boardId"], "brd-1");
}

TEST_F(FunctionsServiceTest, CloudInvocationsRunInTheCloudRuntime) {
  StartService("fake");
  auto function = Upload(Spec("double"));
  auto ok = InvokeAndWait(function, "cloud", {{"n", 2}});
  ASSERT_FALSE(ok.error) << ok.error->message;
  EXPECT_EQ(ok.record["status"], "succeeded");
  EXPECT_EQ(ok.record["output"], (json{{"echo", {{"n", 2}}}}));
  EXPECT_EQ(ok.record["target"], "cloud");
  EXPECT_EQ(ok.record["runtime"], "fake");
  // Extracted once, into the cache named after the package.
  EXPECT_TRUE(fs::exists(scratch_ / "functions" / "cloud" / "packages" / function.latest.sha256 / "main.sh"));
  ASSERT_TRUE(InvokeAndWait(function, "cloud", {{"n", 3}}).record["status"] == "succeeded");
  {
    std::lock_guard<std::mutex> lock(runtime_->mutex);
    ASSERT_EQ(runtime_->runs.size(), 2u);
  }
  json spec = Spec("gpio-only");
  spec["boardOnly"] = true;
  auto board_only = Upload(spec);
  auto refused = InvokeAndWait(board_only, "cloud", {});
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, ErrorCode::kInvalidArgument);
}

TEST_F(FunctionsServiceTest, AsyncCloudInvocationIsRunningUntilItEnds) {
  StartService("fake");
  auto function = Upload(Spec("double"));
  runtime_->hold = true;
  auto id = service_->Invoke(function, "cloud", {{"n", 1}}, InvokeOptions{true, std::nullopt});
  ASSERT_TRUE(id) << id.error().message;
  auto running = store_->GetInvocation(function.id, *id);
  ASSERT_TRUE(running);
  EXPECT_EQ(running->status, InvocationStatus::kRunning);
  EXPECT_EQ(running->record["target"], "cloud");
  ASSERT_TRUE(runtime_->WaitFor([&] { return runtime_->held == 1; }));
  runtime_->Release();
  ASSERT_TRUE(Eventually([&] {
    auto done = store_->GetInvocation(function.id, *id);
    return done && done->status == InvocationStatus::kSucceeded;
  }));
}

TEST_F(FunctionsServiceTest, TheCallersDeadlineEndsACloudInvocation) {
  StartService("fake");
  auto function = Upload(Spec("double"));
  runtime_->hold = true;
  auto late = InvokeAndWait(function, "cloud", {}, InvokeOptions{false, milliseconds(50)});
  EXPECT_FALSE(late.error);
  EXPECT_EQ(late.record["status"], "timed_out");
  EXPECT_NE(late.record.value("error", "").find("50 ms"), std::string::npos) << late.record;
  runtime_->Release(10);
}

TEST_F(FunctionsServiceTest, WithoutACloudRuntimeCloudInvocationsAreUnavailable) {
  StartService("none");
  auto function = Upload(Spec("double"));
  auto outcome = InvokeAndWait(function, "cloud", {});
  ASSERT_TRUE(outcome.error);
  EXPECT_EQ(outcome.error->code, ErrorCode::kUnavailable);
  EXPECT_NE(outcome.error->message.find("disabled"), std::string::npos) << outcome.error->message;
}

// Issue 18: placement. Durations are what the conductor measures: the fake boards advance the
// manual clock while they "run".
TEST_F(FunctionsServiceTest, Issue18_AutoPlacementLearnsTheFastestOnlineRuntimeAndSaysWhy) {
  InvokerOptions no_exploration;
  no_exploration.strategy.epsilon = 0.0;
  StartService("none", no_exploration);
  auto function = Upload(Spec("double"));
  for (const char* board : {"brd-slow", "brd-fast", "brd-gone"}) {
    gateway_.SetOnline(board);
    DeployOn(function, board);
  }
  gateway_.SetOffline("brd-gone");
  BoardTakes("brd-slow", milliseconds(300));
  BoardTakes("brd-fast", milliseconds(50));
  InvokeOptions greedy;
  greedy.strategy = "greedy";
  for (int i = 0; i < 20; ++i) {
    auto outcome = InvokeAndWait(function, Placement::Auto(), {{"n", i}}, greedy);
    ASSERT_FALSE(outcome.error) << outcome.error->message;
  }
  EXPECT_EQ(InvokesOn("brd-gone"), 0u);  // offline: never explored
  EXPECT_EQ(InvokesOn("brd-slow"), 1u);  // greedy with epsilon 0: tried once, then never
  EXPECT_EQ(InvokesOn("brd-fast"), 19u);
  auto last = InvokeAndWait(function, Placement::Auto(), {}, greedy);
  const json& placed = last.record["placement"];
  EXPECT_EQ(placed["mode"], "auto");
  EXPECT_EQ(placed["strategy"], "greedy");
  EXPECT_EQ(placed["runtime"], "board:brd-fast");
  EXPECT_EQ(placed["weights"]["board:brd-fast"], 50.0);
  EXPECT_EQ(placed["weights"]["board:brd-slow"], 300.0);
  EXPECT_FALSE(placed["weights"].contains("board:brd-gone"));
  ASSERT_EQ(placed["tried"].size(), 1u);
  EXPECT_EQ(placed["tried"][0]["ms"], 50.0);

  auto stats = service_->Stats(function, "greedy");
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->available, (std::vector<std::string>{"board:brd-fast", "board:brd-slow"}));
  ASSERT_EQ(stats->runtimes.size(), 2u);
  EXPECT_EQ(stats->runtimes[0].runtime, "board:brd-fast");
  EXPECT_DOUBLE_EQ(stats->runtimes[0].stats.mean().count(), 50.0);
  EXPECT_EQ(stats->runtimes[0].stats.count() + stats->runtimes[1].stats.count(), 21u);
  EXPECT_FALSE(service_->Stats(function, "nope"));
}

TEST_F(FunctionsServiceTest, Issue18_ADeadlineKeepsPlacementOffARuntimeThatMissesIt) {
  StartService();
  auto function = Upload(Spec("double"));
  for (const char* board : {"brd-slow", "brd-fast"}) {
    gateway_.SetOnline(board);
    DeployOn(function, board);
  }
  BoardTakes("brd-slow", milliseconds(300));
  BoardTakes("brd-fast", milliseconds(50));
  InvokeOptions ucb1;
  ucb1.strategy = "ucb1";
  // Both are tried once, then UCB1 explores the slow one again now and then...
  for (int i = 0; i < 30; ++i) ASSERT_FALSE(InvokeAndWait(function, Placement::Auto(), {}, ucb1).error);
  const size_t explored = InvokesOn("brd-slow");
  EXPECT_GT(explored, 1u);
  // ...but not while the caller's deadline is one it cannot meet.
  ucb1.deadline = milliseconds(100);
  for (int i = 0; i < 30; ++i) ASSERT_FALSE(InvokeAndWait(function, Placement::Auto(), {}, ucb1).error);
  EXPECT_EQ(InvokesOn("brd-slow"), explored);
}

TEST_F(FunctionsServiceTest, Issue18_AFailingRuntimeFallsBackToTheNextAndTheFailureCounts) {
  StartService("fake");
  auto function = Upload(Spec("double"));
  gateway_.SetOnline("brd-1");
  DeployOn(function, "brd-1");
  BoardTakes("brd-1", milliseconds(10));
  runtime_->on_run = [](const containers::ContainerSpec&, const std::string&) -> Result<containers::RunOutput> {
    return Unavailable("the cloud runtime was stopped");
  };
  InvokeOptions options;
  options.strategy = "greedy";
  for (int i = 0; i < 5; ++i) {
    auto outcome = InvokeAndWait(function, Placement::Auto(), {}, options);
    ASSERT_FALSE(outcome.error) << outcome.error->message;
    EXPECT_EQ(outcome.record["status"], "succeeded");
    EXPECT_EQ(outcome.record["boardId"], "brd-1");
  }
  // The first call went to the cloud (the board was first... whichever was tried first), and a
  // call that met the failing cloud says so.
  auto stats = service_->Stats(function, "greedy");
  ASSERT_TRUE(stats);
  uint64_t cloud_failures = 0;
  for (const auto& r : stats->runtimes) {
    if (r.runtime == "cloud") cloud_failures = r.stats.failures();
  }
  EXPECT_GE(cloud_failures, 1u);
  // Forced into the failing cloud, the call fails: no fallback when the caller chose.
  auto forced = InvokeAndWait(function, Placement::Cloud(), {}, options);
  ASSERT_TRUE(forced.error);
  EXPECT_EQ(forced.record["placement"]["mode"], "cloud");
  // The board gone too: nothing can run it, the call says which runtimes were tried.
  gateway_.SetScript("brd-1", [](const std::string& procedure, const wamp::Payload& p) -> Result<wamp::Payload> {
    if (procedure == "fn.invoke") return Unavailable("board brd-1 went away");
    return p;
  });
  InvokeOptions cloud_first;
  cloud_first.strategy = "greedy";
  auto none = InvokeAndWait(function, Placement::Auto(), {}, cloud_first);
  ASSERT_TRUE(none.error);
  EXPECT_EQ(none.record["placement"]["tried"].size(), 2u) << none.record;
}

TEST_F(FunctionsServiceTest, Issue18_CloudOnlyFunctionsNeverRunOnABoard) {
  StartService("fake");
  json spec = Spec("heavy");
  spec["cloudOnly"] = true;
  auto function = Upload(spec);
  gateway_.SetOnline("brd-1");
  ASSERT_TRUE(service_->Deploy(function, {"brd-1"}));  // REST refuses this; the service must cope
  BoardTakes("brd-1", milliseconds(1));
  for (int i = 0; i < 20; ++i) {
    auto outcome = InvokeAndWait(function, Placement::Auto(), {});
    ASSERT_FALSE(outcome.error) << outcome.error->message;
    EXPECT_EQ(outcome.record["target"], "cloud");
  }
  EXPECT_EQ(InvokesOn("brd-1"), 0u);
  auto refused = InvokeAndWait(function, Placement::Board("brd-1"), {});
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->code, ErrorCode::kInvalidArgument);
}

TEST_F(FunctionsServiceTest, Issue18_ConcurrencyLimitsRefuseInsteadOfQueueing) {
  InvokerOptions limits;
  limits.max_running_per_function = 2;
  limits.max_running_per_project = 3;
  StartService("fake", limits);
  auto first = Upload(Spec("first"));
  auto second = Upload(Spec("second"));
  runtime_->hold = true;
  InvokeOptions async;
  async.async = true;
  ASSERT_TRUE(service_->Invoke(first, Placement::Cloud(), {}, async));
  ASSERT_TRUE(service_->Invoke(first, Placement::Cloud(), {}, async));
  auto over_function = service_->Invoke(first, Placement::Cloud(), {}, async);
  ASSERT_FALSE(over_function);
  EXPECT_EQ(over_function.error().code, ErrorCode::kResourceExhausted);
  ASSERT_TRUE(service_->Invoke(second, Placement::Cloud(), {}, async));
  auto over_project = service_->Invoke(second, Placement::Cloud(), {}, async);
  ASSERT_FALSE(over_project);
  EXPECT_NE(over_project.error().message.find("project"), std::string::npos);
  EXPECT_EQ(service_->RetryAfter(first.id), std::chrono::seconds(1));  // nothing measured: the minimum
  ASSERT_TRUE(runtime_->WaitFor([&] { return runtime_->held == 3; }));
  runtime_->Release(3);
  ASSERT_TRUE(Eventually([&] { return service_->Invoke(first, Placement::Cloud(), {}, async).has_value(); }));
  runtime_->Release(1);
}

// Issue 18: function.json names the function's strategy and its knobs; a call may still name
// another; an unknown one is refused at upload, naming the field.
TEST_F(FunctionsServiceTest, Issue18_TheFunctionsManifestNamesItsStrategy) {
  StartService();
  json spec = Spec("tuned");
  spec["placement"] = {{"strategy", "sliding-ucb"}, {"window", 5}};
  auto function = Upload(spec);
  gateway_.SetOnline("brd-1");
  DeployOn(function, "brd-1");
  BoardTakes("brd-1", milliseconds(10));
  auto outcome = InvokeAndWait(function, Placement::Auto(), {});
  ASSERT_FALSE(outcome.error) << outcome.error->message;
  EXPECT_EQ(outcome.record["placement"]["strategy"], "sliding-ucb");
  InvokeOptions greedy;
  greedy.strategy = "greedy";
  EXPECT_EQ(InvokeAndWait(function, Placement::Auto(), {}, greedy).record["placement"]["strategy"], "greedy");
  EXPECT_EQ(service_->Stats(function, "")->strategy, "sliding-ucb");
  // Without "placement": the conductor's default.
  auto plain = Upload(Spec("plain"));
  EXPECT_EQ(service_->Stats(plain, "")->strategy, "ucb1");

  json bad = Spec("bad");
  bad["placement"] = {{"strategy", "thompson"}};
  auto refused = service_->Upload("prj-1", MakePackage(scratch_, bad));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(refused.error().message,
            "function.json: placement.strategy: must be one of greedy, ucb1, bayes-ucb, sliding-ucb (not \"thompson\")");
  EXPECT_FALSE(store_->FindFunction("prj-1", "bad").value());  // nothing stored
  bad["placement"] = {{"epsilon", 2}};
  refused = service_->Upload("prj-1", MakePackage(scratch_, bad));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "function.json: placement.epsilon: must be between 0.0 and 1.0");
}

// Issue 18: each board's cap (its agent's [functions] max_running, reported in sys.info) holds
// placement: a board at it is skipped while another runtime can serve, else the call is refused
// (REST: 429 + Retry-After), never queued in the conductor.
TEST_F(FunctionsServiceTest, Issue18_ABoardAtItsCapIsSkippedWhileAnotherCanServe) {
  StartService();
  auto function = Upload(Spec("slow"));
  for (const char* board : {"brd-a", "brd-b"}) {
    gateway_.SetOnline(board);
    DeployOn(function, board);
    gateway_.SetScript(board, [](const std::string& procedure, const wamp::Payload& payload) -> Result<wamp::Payload> {
      if (procedure != "sys.info") return payload;
      contract::sys::SysInfo info;
      info.functions_max_running = 1;
      return info.ToPayload();
    });
    gateway_.Registered(board, "sys.info");
    ASSERT_TRUE(Eventually([&] { return service_->BoardCap(board) == 1; }));
    gateway_.SetSilent(board);  // every call runs until released
  }
  InvokeOptions async;
  async.async = true;
  ASSERT_TRUE(service_->Invoke(function, Placement::Auto(), {}, async));
  ASSERT_TRUE(service_->Invoke(function, Placement::Auto(), {}, async));
  EXPECT_EQ(InvokesOn("brd-a"), 1u);  // the second call skipped the board at its cap
  EXPECT_EQ(InvokesOn("brd-b"), 1u);
  auto full = service_->Invoke(function, Placement::Auto(), {}, async);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(full.error().message.find("concurrency cap"), std::string::npos) << full.error().message;
  EXPECT_EQ(InvokesOn("brd-a") + InvokesOn("brd-b"), 2u);  // nothing was queued
  // The caller's own choice of board is sent anyway: the board's agent queues it.
  ASSERT_TRUE(service_->Invoke(function, Placement::Board("brd-a"), {}, async));
  EXPECT_EQ(InvokesOn("brd-a"), 2u);
  EXPECT_EQ(service_->RunningOn("brd-a"), 2u);
  // The boards answer (here: they went away); their slots are free again.
  gateway_.SetOffline("brd-a");
  gateway_.SetOffline("brd-b");
  gateway_.Release();
  ASSERT_TRUE(Eventually([&] { return service_->RunningOn("brd-a") + service_->RunningOn("brd-b") == 0; }));
  // And the three calls ended (a fallback attempt must not find the boards back online).
  ASSERT_TRUE(Eventually([&] {
    auto listed = Items(store_->ListInvocations(function.id, kAllRows));
    if (!listed || listed->size() != 3) return false;
    for (const auto& inv : *listed) {
      if (inv.status == InvocationStatus::kRunning) return false;
    }
    return true;
  }));
  gateway_.SetOnline("brd-a");
  gateway_.SetOnline("brd-b");
  ASSERT_TRUE(service_->Invoke(function, Placement::Board("brd-a"), {}, async));
  ASSERT_TRUE(service_->Invoke(function, Placement::Auto(), {}, async));
  EXPECT_EQ(InvokesOn("brd-a"), 3u);
  EXPECT_EQ(InvokesOn("brd-b"), 2u);
  gateway_.SetOffline("brd-a");
  gateway_.SetOffline("brd-b");
  gateway_.Release();
  ASSERT_TRUE(Eventually([&] { return service_->RunningOn("brd-a") + service_->RunningOn("brd-b") == 0; }));
}

// Issue 18: what placement learnt survives a restart: written in batches (periodically and when
// the service goes), read back at start, and the next calls go where they went before.
TEST_F(FunctionsServiceTest, Issue18_PlacementStatisticsSurviveARestart) {
  InvokerOptions no_exploration;
  no_exploration.strategy.epsilon = 0.0;
  StartService("none", no_exploration);
  auto function = Upload(Spec("double"));
  for (const char* board : {"brd-slow", "brd-fast"}) {
    gateway_.SetOnline(board);
    DeployOn(function, board);
  }
  BoardTakes("brd-slow", milliseconds(300));
  BoardTakes("brd-fast", milliseconds(50));
  InvokeOptions greedy;
  greedy.strategy = "greedy";
  for (int i = 0; i < 6; ++i) ASSERT_FALSE(InvokeAndWait(function, Placement::Auto(), {}, greedy).error);
  // Not one store write per call: nothing is in the registry until a flush.
  EXPECT_TRUE(store_->LoadPlacementStats()->empty());
  ASSERT_EQ(*service_->FlushPlacementStats(), 1u);
  ASSERT_EQ(*service_->FlushPlacementStats(), 0u);  // nothing changed since
  ASSERT_TRUE(InvokeAndWait(function, Placement::Auto(), {}, greedy).record["boardId"] == "brd-fast");
  ASSERT_TRUE(Eventually([&] { return Items(store_->ListInvocations(function.id, kAllRows))->size() == 7; }));
  service_.reset();  // the last call is flushed as the service goes

  auto stored = store_->LoadPlacementStats();
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(stored->at(0).plays, 7u);
  StartService("none", no_exploration);  // a restarted conductor
  auto stats = service_->Stats(function, "greedy");
  ASSERT_TRUE(stats);
  ASSERT_EQ(stats->runtimes.size(), 2u);
  EXPECT_EQ(stats->runtimes[0].runtime, "board:brd-fast");
  EXPECT_EQ(stats->runtimes[0].stats.count(), 6u);
  EXPECT_DOUBLE_EQ(stats->runtimes[0].stats.mean().count(), 50.0);
  EXPECT_EQ(stats->runtimes[1].stats.count(), 1u);
  const size_t slow_before = InvokesOn("brd-slow");
  for (int i = 0; i < 5; ++i) {
    auto outcome = InvokeAndWait(function, Placement::Auto(), {}, greedy);
    EXPECT_EQ(outcome.record["boardId"], "brd-fast");  // no relearning: the slow board is not tried again
  }
  EXPECT_EQ(InvokesOn("brd-slow"), slow_before);
}

// The periodic flush runs by itself (here every 20 ms).
TEST_F(FunctionsServiceTest, Issue18_PlacementStatisticsAreFlushedPeriodically) {
  flush_interval_ = milliseconds(20);
  StartService();
  auto function = Upload(Spec("double"));
  gateway_.SetOnline("brd-1");
  DeployOn(function, "brd-1");
  BoardTakes("brd-1", milliseconds(10));
  ASSERT_FALSE(InvokeAndWait(function, Placement::Auto(), {}).error);
  ASSERT_TRUE(Eventually([&] {
    auto stored = store_->LoadPlacementStats();
    return stored && stored->size() == 1 && stored->at(0).plays == 1;
  }));
}

// ---- review fixes (wt-fix): limits that hold, runs that end, at most once ----

InvokeOptions WaitingFor(milliseconds wait) {
  InvokeOptions options;
  options.wait = wait;
  return options;
}

// A caller that gives up does not free its place while the run goes on: the cloud run is
// killed at the caller's deadline, and only then does the call stop counting.
TEST_F(FunctionsServiceTest, Review_ACloudRunThatOutlivesItsCallerIsKilledAndCountsUntilThen) {
  InvokerOptions limits;
  limits.max_running_per_function = 1;
  StartService("fake", limits);
  auto function = Upload(Spec("sleepy"));
  runtime_->hold = true;
  auto late = InvokeAndWait(function, Placement::Cloud(), {}, WaitingFor(milliseconds(50)));
  EXPECT_EQ(late.record["status"], "timed_out") << late.record;
  // Nobody released it: the run ends because it was cancelled (killed), not because it finished.
  ASSERT_TRUE(runtime_->WaitFor([&] { return runtime_->held == 0 && runtime_->running == 0; }));
  ASSERT_TRUE(Eventually([&] {
    InvokeOptions async;
    async.async = true;
    return service_->Invoke(function, Placement::Cloud(), {}, async).has_value();
  }));
  runtime_->Release(10);
  // The service goes at the end of the test: let the run it just admitted end first.
  ASSERT_TRUE(runtime_->WaitFor([&] { return runtime_->running == 0 && runtime_->runs.size() == 2; }));
  std::this_thread::sleep_for(milliseconds(50));
}

// The same for a warm function: the instance stuck on the late call is killed at the caller's
// deadline (not left to run until the function's own timeout), and the place is free again.
TEST_F(FunctionsServiceTest, ACloudWarmRunThatOutlivesItsCallerIsKilled) {
  InvokerOptions limits;
  limits.max_running_per_function = 1;
  StartService("fake", limits);
  auto spec = Spec("sleepy-warm");
  spec["warm"] = {{"enabled", true}};
  spec["timeoutMs"] = 60'000;
  auto function = Upload(spec);
  // As a real instance stuck on a request: it answers only once its caller's flag is set.
  runtime_->on_exchange = [state = runtime_](int, const std::string&) -> Result<std::string> {
    const std::atomic<bool>* flag = nullptr;
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      flag = state->exchange_cancel;
    }
    for (int i = 0; i < 30'000 && !(flag && flag->load()); ++i) std::this_thread::sleep_for(milliseconds(1));
    if (flag && flag->load()) return MakeError(ErrorCode::kCancelled, "warm instance cancelled");
    return std::string("{\"late\": true}");
  };
  auto late = InvokeAndWait(function, Placement::Cloud(), {}, WaitingFor(milliseconds(100)));
  EXPECT_EQ(late.record["status"], "timed_out") << late.record;
  ASSERT_TRUE(runtime_->WaitFor([&] { return runtime_->alive_processes == 0; }, milliseconds(10'000)));
  {
    std::lock_guard<std::mutex> lock(runtime_->mutex);
    runtime_->on_exchange = nullptr;
  }
  // The place is given back just after the instance is gone.
  InvocationOutcome next;
  ASSERT_TRUE(Eventually([&] { return !(next = InvokeAndWait(function, Placement::Cloud(), {})).error; }))
      << next.error->message;
  EXPECT_EQ(next.record["status"], "succeeded") << next.record;
}

// A call that timed out while it waited in the cloud host's queue leaves the queue: it never
// starts after its caller was told it timed out.
TEST_F(FunctionsServiceTest, Review_ACloudRunQueuedPastItsCallersDeadlineNeverStarts) {
  StartService("fake", {}, [](FunctionsOptions& o) { o.cloud_max_running = 1; });
  auto function = Upload(Spec("sleepy"));
  runtime_->hold = true;
  InvokeOptions async;
  async.async = true;
  ASSERT_TRUE(service_->Invoke(function, Placement::Cloud(), {}, async));  // takes the host's one place
  ASSERT_TRUE(runtime_->WaitFor([&] { return runtime_->held == 1; }));
  auto queued = InvokeAndWait(function, Placement::Cloud(), {}, WaitingFor(milliseconds(100)));
  EXPECT_EQ(queued.record["status"], "timed_out") << queued.record;
  runtime_->Release(10);
  ASSERT_TRUE(runtime_->WaitFor([&] { return runtime_->running == 0; }));
  std::this_thread::sleep_for(milliseconds(200));  // a queued run would start now: none must
  std::lock_guard<std::mutex> lock(runtime_->mutex);
  EXPECT_EQ(runtime_->runs.size(), 1u);
}

// One project cannot fill the cloud host's shared queue.
TEST_F(FunctionsServiceTest, Review_OneProjectsRunsInTheCloudHostAreCapped) {
  StartService("fake", {}, [](FunctionsOptions& o) { o.cloud_max_per_project = 2; });
  auto function = Upload(Spec("many"));
  runtime_->hold = true;
  InvokeOptions async;
  async.async = true;
  ASSERT_TRUE(service_->Invoke(function, Placement::Cloud(), {}, async));
  ASSERT_TRUE(service_->Invoke(function, Placement::Cloud(), {}, async));
  ASSERT_TRUE(runtime_->WaitFor([&] { return runtime_->held == 2; }));
  auto third = InvokeAndWait(function, Placement::Cloud(), {});
  ASSERT_TRUE(third.error);
  EXPECT_EQ(third.error->code, ErrorCode::kResourceExhausted) << third.error->message;
  runtime_->Release(2);
  ASSERT_TRUE(runtime_->WaitFor([&] { return runtime_->held == 0; }));
  runtime_->hold = false;
  ASSERT_TRUE(Eventually([&] { return !InvokeAndWait(function, Placement::Cloud(), {}).error; }));
}

// At most once by default: a board that did not answer may still run the function (GPIO side
// effects), so the call does not move on to the cloud; "retryOnTimeout": true opts in.
TEST_F(FunctionsServiceTest, Review_ATimeoutFallsBackOnlyWhenTheFunctionOptsIn) {
  StartService("fake");
  gateway_.SetOnline("brd-1");
  gateway_.SetScript("brd-1", [](const std::string& procedure, const wamp::Payload& p) -> Result<wamp::Payload> {
    if (procedure == "fn.invoke") return DeadlineExceeded("no answer within 7000 ms");
    return p;
  });
  for (const bool retry : {false, true}) {
    json spec = Spec(retry ? "retried" : "once");
    if (retry) spec["retryOnTimeout"] = true;
    auto function = Upload(spec);
    ASSERT_TRUE(service_->Deploy(function, {"brd-1"}));
    ASSERT_TRUE(Eventually([&] { return StateOf(function.id, "brd-1") == "deployed"; }));
    size_t cloud_runs_before;
    {
      std::lock_guard<std::mutex> lock(runtime_->mutex);
      cloud_runs_before = runtime_->runs.size();
    }
    auto outcome = InvokeAndWait(function, Placement::Auto(), {});
    ASSERT_EQ(outcome.record["placement"]["tried"].size(), retry ? 2u : 1u) << outcome.record;
    EXPECT_EQ(outcome.record["placement"]["tried"][0]["runtime"], "board:brd-1");
    std::lock_guard<std::mutex> lock(runtime_->mutex);
    EXPECT_EQ(runtime_->runs.size(), cloud_runs_before + (retry ? 1u : 0u));
    if (retry) {
      EXPECT_EQ(outcome.record["status"], "succeeded") << outcome.record;
    } else {
      EXPECT_EQ(outcome.record["status"], "timed_out") << outcome.record;
    }
  }
  // A board that refuses (it certainly did not run it) is still followed by the cloud.
  gateway_.SetScript("brd-1", [](const std::string& procedure, const wamp::Payload& p) -> Result<wamp::Payload> {
    if (procedure == "fn.invoke") return ResourceExhausted("invocation queue is full (1024 waiting)");
    return p;
  });
  auto function = Upload(Spec("refused"));
  ASSERT_TRUE(service_->Deploy(function, {"brd-1"}));
  ASSERT_TRUE(Eventually([&] { return StateOf(function.id, "brd-1") == "deployed"; }));
  auto outcome = InvokeAndWait(function, Placement::Auto(), {});
  EXPECT_EQ(outcome.record["status"], "succeeded") << outcome.record;
  EXPECT_EQ(outcome.record["placement"]["tried"].size(), 2u) << outcome.record;
}

// Issue 14 review: a board whose session ended while it held the call may have run it, so the
// call does not move on to the cloud; the invoker knew that case by the router's error text.
// It is now its own code (ErrorCode::kCalleeLeft, ew.error.callee_left), whatever the message
// says, and an Unavailable that merely quotes the old text is an ordinary refusal again.
TEST_F(FunctionsServiceTest, Issue14_ACalleeThatLeftIsKnownByItsCodeNotItsText) {
  StartService("fake");
  gateway_.SetOnline("brd-1");
  struct Case {
    const char* name;
    Error error;
    bool falls_back;
  };
  const Case cases[] = {
      {"left", Error{ErrorCode::kCalleeLeft, "session 42 closed"}, false},
      {"unavailable", Error{ErrorCode::kUnavailable, "the callee left before answering"}, true},
  };
  for (const Case& c : cases) {
    gateway_.SetScript("brd-1", [error = c.error](const std::string& procedure, const wamp::Payload& p) -> Result<wamp::Payload> {
      if (procedure == "fn.invoke") return tl::unexpected(error);
      return p;
    });
    auto function = Upload(Spec(std::string("left-") + c.name));
    ASSERT_TRUE(service_->Deploy(function, {"brd-1"}));
    ASSERT_TRUE(Eventually([&] { return StateOf(function.id, "brd-1") == "deployed"; }));
    auto outcome = InvokeAndWait(function, Placement::Auto(), {});
    EXPECT_EQ(outcome.record["placement"]["tried"].size(), c.falls_back ? 2u : 1u) << c.name << outcome.record;
    EXPECT_EQ(outcome.record["placement"]["tried"][0]["runtime"], "board:brd-1") << c.name;
  }
  // A board that left while it held a deploy gets it again when it returns: pending, as when it
  // was offline before the call, not failed.
  gateway_.SetScript("brd-1", [](const std::string& procedure, const wamp::Payload& p) -> Result<wamp::Payload> {
    if (procedure == "fn.deploy") return CalleeLeft("the callee left before answering");
    return p;
  });
  auto left = Upload(Spec("left-deploy"));
  ASSERT_TRUE(service_->Deploy(left, {"brd-1"}));
  ASSERT_TRUE(Eventually([&] {
    auto d = store_->GetDeployment(left.id, "brd-1");
    return d && *d && !(*d)->error.empty();
  }));
  EXPECT_EQ(StateOf(left.id, "brd-1"), "pending");
  // The router's mapping round-trips: the code survives the WAMP error URI.
  EXPECT_EQ(WampErrorUri(ErrorCode::kCalleeLeft), "ew.error.callee_left");
  EXPECT_EQ(ErrorCodeFromWampUri("ew.error.callee_left"), ErrorCode::kCalleeLeft);
}

TEST_F(FunctionsServiceTest, Issue18_PlacementTextsAreParsed) {
  EXPECT_EQ(Placement::Parse("auto")->mode, Placement::Mode::kAuto);
  EXPECT_EQ(Placement::Parse("cloud")->mode, Placement::Mode::kCloud);
  EXPECT_EQ(Placement::Parse("board:brd-7")->board_id, "brd-7");
  EXPECT_FALSE(Placement::Parse("board:"));
  EXPECT_FALSE(Placement::Parse("edge"));
}

}  // namespace
}  // namespace ew::functions
