// The `fn` commands against a fake conductor: what they send, what they print, their exit codes.
#include "cloud-conductor/cli/function_commands.hpp"

#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>

#include "cloud-conductor/cli/function_format.hpp"
#include "containers/package/package.hpp"
#include "tests/cloud-conductor/cli/command_fixture.hpp"

namespace ew::cli {
namespace {

using nlohmann::json;
using testing::FakeRequest;
using testing::FakeResponse;

constexpr char kFunction[] =
    R"({"id":"fn-1","name":"double","version":"1.0.0","sha256":"ab12","size":"120",)"
    R"("spec":{"name":"double","version":"1.0.0","runtime":"sh","entrypoint":"main.sh","timeoutMs":800},)"
    R"("createdAt":"1700000000"})";
constexpr char kBoards[] = R"({"boards":[{"id":"brd-1","name":"pi-1"},{"id":"brd-2","name":"pi-2"}]})";

class FunctionCommandsTest : public testing::CommandFixture {
 protected:
  void SetUp() override {
    CommandFixture::SetUp();
    fake_.Route("GET /v1/functions/fn-1", 200, kFunction);
    fake_.Route("GET /v1/boards", 200, kBoards);
  }

  // A function source directory; `spec` is function.json's text.
  std::string SourceDir(const std::string& spec) {
    const auto src = dir_ / "src";
    std::filesystem::create_directories(src);
    std::ofstream(src / "function.json") << spec;
    std::ofstream(src / "main.sh") << "#!/bin/sh\nread -r e\necho '{\"ok\":true}'\n";
    ::chmod((src / "main.sh").c_str(), 0755);
    return src.string();
  }

  std::string InvokeAnswering(int status, const std::string& body, const InvokeOptions& options, bool json = false) {
    fake_.Route("POST /v1/functions/fn-1/invocations", status, body);
    auto result = Run([&](Context& c) { return FunctionInvoke(c, "fn-1", options); }, json);
    return result ? "" : result.error().message;
  }
};

// ---- fn create ----

TEST_F(FunctionCommandsTest, CreatePacksADirectoryAndUploadsItAsGzip) {
  const std::string src = SourceDir(R"({"name":"double","version":"1.0.0","runtime":"sh","entrypoint":"main.sh"})");
  fake_.Route("POST /v1/functions", 201, kFunction);
  auto result = Run([&](Context& c) { return FunctionCreate(c, src); });
  ASSERT_TRUE(result) << result.error().message;
  auto uploads = fake_.requests("POST /v1/functions");
  ASSERT_EQ(uploads.size(), 1u);
  EXPECT_EQ(uploads[0].content_type, "application/gzip");
  EXPECT_EQ(uploads[0].token, "ewt_test");
  EXPECT_EQ(uploads[0].body, *containers::PackDirectory(src)) << "the same bytes as the packer gives";
  auto inspected = containers::InspectPackage(uploads[0].body);
  ASSERT_TRUE(inspected) << inspected.error().message;
  EXPECT_EQ(inspected->spec.name, "double");
  EXPECT_EQ(out_, "function double 1.0.0 created: fn-1\nsha256 ab12 (120 B)\n");
}

TEST_F(FunctionCommandsTest, CreateUploadsATarGzAsItIs) {
  const std::string src = SourceDir(R"({"name":"double","version":"2","runtime":"sh","entrypoint":"main.sh"})");
  const std::string bytes = *containers::PackDirectory(src);
  const std::string file = (dir_ / "double.tar.gz").string();
  std::ofstream(file, std::ios::binary) << bytes;
  fake_.Route("POST /v1/functions", 201, kFunction);
  auto result = Run([&](Context& c) { return FunctionCreate(c, file); }, /*json=*/true);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(fake_.requests("POST /v1/functions").size(), 1u);
  EXPECT_EQ(fake_.requests("POST /v1/functions")[0].body, bytes);
  EXPECT_EQ(json::parse(out_), json::parse(kFunction)) << "--json prints the API's body";
}

TEST_F(FunctionCommandsTest, CreateRejectsABadManifestBeforeAnyUpload) {
  const std::string src = SourceDir(R"({"name":"double","version":"1","runtime":"sh","entrypoint":"main.sh",
                                        "timeoutMs":0})");
  auto result = Run([&](Context& c) { return FunctionCreate(c, src); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(result.error().message.find("timeoutMs"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find(src), std::string::npos) << result.error().message;
  EXPECT_TRUE(fake_.requests().empty()) << "nothing was sent";
}

TEST_F(FunctionCommandsTest, CreateRejectsAMissingEntrypointAndNonPackages) {
  const std::string src = SourceDir(R"({"name":"double","version":"1","runtime":"sh","entrypoint":"nope.sh"})");
  auto result = Run([&](Context& c) { return FunctionCreate(c, src); });
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("entrypoint"), std::string::npos) << result.error().message;
  const std::string junk = (dir_ / "junk.tar.gz").string();
  std::ofstream(junk) << "not a tarball";
  EXPECT_FALSE(Run([&](Context& c) { return FunctionCreate(c, junk); }));
  EXPECT_FALSE(Run([&](Context& c) { return FunctionCreate(c, (dir_ / "missing").string()); }));
  EXPECT_TRUE(fake_.requests().empty());
}

TEST_F(FunctionCommandsTest, CreateReportsTheApiError) {
  const std::string src = SourceDir(R"({"name":"double","version":"1","runtime":"sh","entrypoint":"main.sh"})");
  fake_.Route("POST /v1/functions", 413,
              R"({"error":{"code":"resource_exhausted","message":"package over 16 MiB"}})");
  auto result = Run([&](Context& c) { return FunctionCreate(c, src); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(result.error().message, "package over 16 MiB");
}

// ---- fn invoke ----

TEST_F(FunctionCommandsTest, InvokePrintsTheOutputOnOneLine) {
  InvokeOptions options;
  options.board = "pi-1";
  options.event = R"({"n": 21})";
  EXPECT_EQ(InvokeAnswering(200,
                            R"({"invocationId":"inv-1","status":"succeeded","output":{"double":42,"uid":65534},)"
                            R"("logs":"note","exitCode":0,"boardId":"brd-1"})",
                            options),
            "");
  EXPECT_EQ(out_, "{\"double\":42,\"uid\":65534}\n");
  EXPECT_EQ(err_, "");
  auto sent = fake_.requests("POST /v1/functions/fn-1/invocations");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(json::parse(sent[0].body), json::parse(R"({"event":{"n":21},"boardId":"brd-1"})"))
      << "the board name became its id";
}

TEST_F(FunctionCommandsTest, InvokeFailedPrintsLogsToStderrAndExits4) {
  InvokeOptions options;
  options.board = "brd-1";
  const std::string error = InvokeAnswering(
      502,
      R"({"error":{"code":"function_failed","message":"function failed"},"invocation":{"invocationId":"inv-2",)"
      R"("status":"failed","error":"exit status 3","logs":"sensor not found","exitCode":3,"boardId":"brd-1"}})",
      options);
  EXPECT_EQ(error, "function double failed on brd-1: exit status 3");
  EXPECT_EQ(exit_code_, kExitFunctionFailed);
  EXPECT_EQ(out_, "") << "stdout stays clean for pipes";
  EXPECT_EQ(err_, "sensor not found\n");
  EXPECT_EQ(json::parse(fake_.requests("POST /v1/functions/fn-1/invocations")[0].body)["event"], json::object());
}

TEST_F(FunctionCommandsTest, InvokeTimedOutExits5) {
  InvokeOptions options;
  options.cloud = true;
  const std::string error = InvokeAnswering(
      504,
      R"({"error":{"code":"deadline_exceeded","message":"timed out"},"invocation":{"invocationId":"inv-3",)"
      R"("status":"timed_out","error":"timed out after 800 ms","logs":"","target":"cloud"}})",
      options);
  EXPECT_EQ(error, "function double timed out on cloud: timed out after 800 ms");
  EXPECT_EQ(exit_code_, kExitTimedOut);
  EXPECT_EQ(json::parse(fake_.requests("POST /v1/functions/fn-1/invocations")[0].body)["target"], "cloud");
}

TEST_F(FunctionCommandsTest, InvokeJsonPrintsTheRecordAlsoOnFailure) {
  InvokeOptions options;
  options.board = "brd-1";
  const std::string record = R"({"invocationId":"inv-2","status":"failed","error":"exit status 1","logs":"x"})";
  EXPECT_NE(InvokeAnswering(502, R"({"error":{"code":"function_failed","message":"f"},"invocation":)" + record + "}",
                            options, /*json=*/true),
            "");
  EXPECT_EQ(json::parse(out_), json::parse(record));
  EXPECT_EQ(exit_code_, kExitFunctionFailed);
  EXPECT_EQ(err_, "") << "the logs are in the record";
}

TEST_F(FunctionCommandsTest, InvokeAsyncPrintsTheInvocationId) {
  InvokeOptions options;
  options.board = "brd-2";
  options.async = true;
  EXPECT_EQ(InvokeAnswering(202, R"({"invocationId":"inv-9"})", options), "");
  EXPECT_EQ(out_, "inv-9\n");
  EXPECT_EQ(json::parse(fake_.requests("POST /v1/functions/fn-1/invocations")[0].body)["async"], true);
}

TEST_F(FunctionCommandsTest, InvokeOtherErrorsExit1WithTheApiMessage) {
  InvokeOptions options;
  options.board = "brd-1";
  EXPECT_EQ(InvokeAnswering(503, R"({"error":{"code":"unavailable","message":"board brd-1 is offline"}})", options),
            "board brd-1 is offline");
  EXPECT_EQ(exit_code_, 1);
}

TEST_F(FunctionCommandsTest, InvokeReadsTheEventFromStdin) {
  stdin_ = "{\"n\": 5}\n";
  InvokeOptions options;
  options.cloud = true;
  options.event_file = "-";
  EXPECT_EQ(InvokeAnswering(200, R"({"status":"succeeded","output":null,"target":"cloud"})", options), "");
  EXPECT_EQ(out_, "null\n");
  EXPECT_EQ(json::parse(fake_.requests("POST /v1/functions/fn-1/invocations")[0].body)["event"], json({{"n", 5}}));
}

TEST(ReadEventTest, JsonFileStdinOrEmpty) {
  std::istringstream none;
  EXPECT_EQ(*ReadEvent("", "", none), json::object());
  EXPECT_EQ(*ReadEvent("[1,2]", "", none), json::parse("[1,2]"));
  auto bad = ReadEvent("{oops", "", none);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "--event: not valid JSON");
  EXPECT_FALSE(ReadEvent("", "/nonexistent/event.json", none));
  std::istringstream in("not json");
  EXPECT_FALSE(ReadEvent("", "-", in));
}

TEST_F(FunctionCommandsTest, ANameMeansItsNewestVersion) {
  fake_.Route("GET /v1/functions", 200, R"({"functions":[
      {"id":"fn-old","name":"greet","version":"1","createdAt":"1700000000"},
      {"id":"fn-new","name":"greet","version":"2","createdAt":"1700000100"},
      {"id":"fn-x","name":"other","version":"1","createdAt":"1700000200"}]})");
  auto found = Run([&](Context& c) -> Result<void> {
    EW_TRY(json function, LookUpFunction(c, "greet"));
    EXPECT_EQ(function["id"], "fn-new");
    return Ok();
  });
  EXPECT_TRUE(found);
  auto ambiguous = Run([&](Context& c) { return FunctionDelete(c, "greet"); });
  ASSERT_FALSE(ambiguous);
  EXPECT_NE(ambiguous.error().message.find("fn-old (1), fn-new (2)"), std::string::npos) << ambiguous.error().message;
  EXPECT_TRUE(fake_.requests("DELETE /v1/functions/fn-new").empty());
  auto missing = Run([&](Context& c) { return FunctionDeployments(c, "nope"); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message, "no function with the id or name nope");
}

// ---- fn deploy ----

TEST_F(FunctionCommandsTest, DeployWaitPrintsEachStateChangeUntilDeployed) {
  fake_.Route("POST /v1/functions/fn-1/deployments", 202,
              R"({"deployments":[{"boardId":"brd-1","state":"pending"},{"boardId":"brd-2","state":"pending"}]})");
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"deploying", "pending"}, {"deploying", "pending"}, {"deployed", "deploying"}, {"deployed", "deployed"}};
  int polls = 0;
  fake_.Route("GET /v1/functions/fn-1/deployments", [&](const FakeRequest&) {
    const auto& [a, b] = steps[std::min<size_t>(polls++, steps.size() - 1)];
    return FakeResponse{200, json({{"deployments",
                                    {{{"boardId", "brd-1"}, {"state", a}}, {{"boardId", "brd-2"}, {"state", b}}}}})
                                 .dump()};
  });
  DeployOptions options;
  options.boards = {"pi-1", "brd-2"};
  options.wait = true;
  auto result = Run([&](Context& c) { return FunctionDeploy(c, "fn-1", options); });
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(out_,
            "deploying double 1.0.0 (fn-1) to 2 boards\n"
            "pi-1 pending\n"
            "pi-2 pending\n"
            "pi-1 deploying\n"
            "pi-1 deployed\n"
            "pi-2 deploying\n"
            "pi-2 deployed\n"
            "deployed double 1.0.0 (fn-1)\n");
  EXPECT_EQ(polls, 4);
  EXPECT_EQ(json::parse(fake_.requests("POST /v1/functions/fn-1/deployments")[0].body),
            json::parse(R"({"boardIds":["brd-1","brd-2"]})"));
}

TEST_F(FunctionCommandsTest, DeployWithGpioTriggersSendsThemChecked) {
  fake_.Route("POST /v1/functions/fn-1/deployments", 202, R"({"deployments":[{"boardId":"brd-1","state":"pending"}]})");
  DeployOptions options;
  options.boards = {"brd-1"};
  options.triggers = {"GPIO4", "sim0:5,falling", "GPIO6,both,20"};
  auto result = Run([&](Context& c) { return FunctionDeploy(c, "fn-1", options); });
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(json::parse(fake_.requests("POST /v1/functions/fn-1/deployments")[0].body)["triggers"],
            json::parse(R"([{"line":"GPIO4"},{"line":"sim0:5","edge":"falling"},)"
                        R"({"line":"GPIO6","edge":"both","debounceMs":20}])"));
}

TEST_F(FunctionCommandsTest, BadTriggerFlagsAreRefusedBeforeAnythingIsSent) {
  for (const char* flag : {"GPIO4,sideways", "GPIO4,rising,soon", "GPIO4,rising,5000", ",rising", "GPIO4,rising,1,2"}) {
    DeployOptions options;
    options.boards = {"brd-1"};
    options.triggers = {flag};
    auto result = Run([&](Context& c) { return FunctionDeploy(c, "fn-1", options); });
    ASSERT_FALSE(result) << flag;
    EXPECT_NE(result.error().message.find(std::string("--trigger ") + flag), std::string::npos) << result.error().message;
  }
  EXPECT_TRUE(fake_.requests().empty()) << "nothing was sent";
}

TEST_F(FunctionCommandsTest, DeployWaitNamesFailedBoardsAndExits4) {
  fake_.Route("POST /v1/functions/fn-1/deployments", 202,
              R"({"deployments":[{"boardId":"brd-1","state":"pending"},{"boardId":"brd-2","state":"pending"}]})");
  fake_.Route("GET /v1/functions/fn-1/deployments", 200,
              R"({"deployments":[{"boardId":"brd-1","state":"deployed"},)"
              R"({"boardId":"brd-2","state":"failed","error":"no space left on device"}]})");
  DeployOptions options;
  options.boards = {"brd-1", "brd-2"};
  options.wait = true;
  auto result = Run([&](Context& c) { return FunctionDeploy(c, "fn-1", options); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "deployment failed on pi-2: no space left on device");
  EXPECT_EQ(exit_code_, kExitFunctionFailed);
  EXPECT_NE(out_.find("pi-2 failed: no space left on device\n"), std::string::npos) << out_;
}

TEST_F(FunctionCommandsTest, DeployWaitTimesOutNamingPendingBoards) {
  fake_.Route("GET /v1/fleets/greenhouse", 404, R"({"error":{"code":"not_found","message":"no fleet"}})");
  fake_.Route("GET /v1/fleets", 200, R"({"fleets":[{"id":"flt-1","name":"greenhouse","boardIds":["brd-1","brd-2"]}]})");
  fake_.Route("POST /v1/functions/fn-1/deployments", 202,
              R"({"deployments":[{"boardId":"brd-1","state":"pending"},{"boardId":"brd-2","state":"pending"}]})");
  fake_.Route("GET /v1/functions/fn-1/deployments", 200,
              R"({"deployments":[{"boardId":"brd-1","state":"deployed"},{"boardId":"brd-2","state":"pending"}]})");
  DeployOptions options;
  options.fleet = "greenhouse";
  options.wait = true;
  options.timeout = std::chrono::seconds(5);
  auto result = Run([&](Context& c) { return FunctionDeploy(c, "fn-1", options); });
  ASSERT_FALSE(result);
  EXPECT_EQ(exit_code_, kExitTimedOut);
  EXPECT_NE(result.error().message.find("timed out after 5s; not deployed yet: pi-2 pending"), std::string::npos)
      << result.error().message;
  EXPECT_EQ(waited_, std::chrono::seconds(5)) << "waits the whole timeout and no more";
  EXPECT_EQ(fake_.requests("GET /v1/functions/fn-1/deployments").size(), 20u) << "one poll per 250 ms";
  EXPECT_EQ(json::parse(fake_.requests("POST /v1/functions/fn-1/deployments")[0].body),
            json::parse(R"({"fleetId":"flt-1"})"));
}

TEST_F(FunctionCommandsTest, DeployWithoutWaitPrintsTheInitialStates) {
  fake_.Route("POST /v1/functions/fn-1/deployments", 202, R"({"deployments":[{"boardId":"brd-1","state":"pending"}]})");
  DeployOptions options;
  options.boards = {"brd-1"};
  auto result = Run([&](Context& c) { return FunctionDeploy(c, "fn-1", options); });
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(out_, "deploying double 1.0.0 (fn-1) to 1 board\npi-1 pending\n");
  EXPECT_TRUE(fake_.requests("GET /v1/functions/fn-1/deployments").empty());
}

// ---- fn list, deployments, logs, rm, undeploy ----

TEST_F(FunctionCommandsTest, ListDeploymentsLogsRemove) {
  fake_.Route("GET /v1/functions", 200, std::string(R"({"functions":[)") + kFunction + "]}");
  ASSERT_TRUE(Run([](Context& c) { return FunctionList(c); }));
  EXPECT_EQ(out_, "ID    NAME    VERSION  SHA256\nfn-1  double  1.0.0    ab12\n");

  fake_.Route("GET /v1/functions/fn-1/deployments", 200,
              R"({"deployments":[{"boardId":"brd-1","state":"deployed","version":"1.0.0"}]})");
  ASSERT_TRUE(Run([](Context& c) { return FunctionDeployments(c, "fn-1"); }));
  EXPECT_EQ(out_, "BOARD  STATE     VERSION  ERROR\nbrd-1  deployed  1.0.0    -\n");

  fake_.Route("GET /v1/functions/fn-1/invocations/inv-7", 200,
              R"({"invocationId":"inv-7","status":"running","boardId":"brd-1"})");
  ASSERT_TRUE(Run([](Context& c) { return FunctionLogs(c, "fn-1", "inv-7"); }));
  EXPECT_EQ(out_, "invocation: inv-7\nstatus:     running\nwhere:      brd-1\nlogs:       -\n");

  fake_.Route("GET /v1/functions/fn-1/invocations", 200,
              R"({"invocations":[{"invocationId":"inv-7","status":"succeeded","runMs":2,"boardId":"brd-1"}]})");
  ASSERT_TRUE(Run([](Context& c) { return FunctionLogs(c, "fn-1", ""); }));
  EXPECT_EQ(out_, "INVOCATION  STATUS     WHERE  RUN-MS  ERROR\ninv-7       succeeded  brd-1  2.0     -\n");

  fake_.Route("DELETE /v1/functions/fn-1/deployments/brd-1", 204, "");
  ASSERT_TRUE(Run([](Context& c) { return FunctionUndeploy(c, "fn-1", {"pi-1"}); }));
  EXPECT_EQ(out_, "removed double 1.0.0 (fn-1) from brd-1\n");

  fake_.Route("DELETE /v1/functions/fn-1", 204, "");
  ASSERT_TRUE(Run([](Context& c) { return FunctionDelete(c, "fn-1"); }));
  EXPECT_EQ(out_, "function double 1.0.0 (fn-1) deleted\n");
}

}  // namespace
}  // namespace ew::cli
