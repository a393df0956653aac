// FunctionService with a fake conductor (serving ew.conductor.fn.fetch from memory) and a real
// FunctionHost over the fake container runtime: deploy by hash in chunks, caching, verification,
// removal, restore after a restart, and the errors of each procedure.
#include "device-agent/functions/function_service.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "common/ids/ids.hpp"
#include "containers/package/package.hpp"
#include "tests/support/fake_container_runtime.hpp"

namespace ew::agent::functions {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Serves packages by sha256 as the conductor's fn.fetch does, on the io thread.
class FakeConductor final : public rpc::ConductorClient {
 public:
  explicit FakeConductor(boost::asio::io_context& io) : io_(io) {}

  void Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds,
            std::function<void(Result<rpc::Reply>)> done) override {
    calls++;
    boost::asio::post(io_, [this, procedure, arguments = std::move(arguments), done = std::move(done)] {
      if (procedure != "ew.conductor.fn.fetch") return done(NotFound("no procedure " + procedure));
      if (refuse) return done(PermissionDenied("package not deployed to this board"));
      auto it = packages.find(arguments.kwargs.at("sha256").get<std::string>());
      if (it == packages.end()) return done(NotFound("no such package"));
      const auto offset = arguments.kwargs.at("offset").get<uint64_t>();
      const auto length = arguments.kwargs.at("length").get<uint64_t>();
      const std::string chunk = it->second.substr(offset, length);
      rpc::Reply reply;
      reply.args = json::array({json::binary(std::vector<uint8_t>(chunk.begin(), chunk.end()))});
      reply.kwargs = {{"size", it->second.size()}};
      done(reply);
    });
  }
  bool Publish(const std::string&, const rpc::Reply&) override { return false; }

  std::map<std::string, std::string> packages;  // sha256 → bytes
  bool refuse = false;
  int calls = 0;

 private:
  boost::asio::io_context& io_;
};

class FunctionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ew-fnsvc-" + ids::NewId("t"));
    fs::create_directories(root_ / "src");
    std::ofstream(root_ / "src" / "function.json")
        << R"({"name": "echo", "version": "1.0.0", "runtime": "sh", "entrypoint": "main.sh"})";
    std::ofstream(root_ / "src" / "main.sh") << "cat\n";
    auto packed = containers::PackDirectory(root_ / "src");
    ASSERT_TRUE(packed) << packed.error().message;
    package_ = *packed;
    sha256_ = ids::Sha256Hex(package_);
    conductor_.packages[sha256_] = package_;
    service_ = MakeService();
  }

  void TearDown() override {
    service_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::shared_ptr<FunctionService> MakeService(bool with_runtime = true) {
    FunctionServiceOptions options;
    options.board_id = "brd-test";
    options.state_dir = root_ / "state";
    options.fetch_chunk_bytes = 64;  // several chunks for any package
    std::unique_ptr<containers::FunctionHost> host;
    if (with_runtime) {
      runtime_ = std::make_shared<containers::testing::FakeRuntimeState>();
      host = std::make_unique<containers::FunctionHost>(containers::HostConfig{},
                                                        std::make_unique<containers::testing::FakeRuntime>(runtime_));
    }
    auto service = std::make_shared<FunctionService>(io_, options, std::move(host), "no runtime in this test");
    EXPECT_TRUE(service->Restore());
    service->SetConductor(&conductor_);
    return service;
  }

  // Calls fn.<suffix> and runs the io loop until it answers (replies may come from other threads).
  Result<rpc::Reply> Call(const std::string& suffix, json kwargs) {
    auto promise = std::make_shared<std::promise<Result<rpc::Reply>>>();
    auto answer = promise->get_future();
    Start(suffix, std::move(kwargs), [promise](Result<rpc::Reply> r) { promise->set_value(std::move(r)); });
    return Await(answer);
  }

  void Start(const std::string& suffix, json kwargs, rpc::Responder respond) {
    rpc::Request invocation;
    invocation.procedure = "ew.board.brd-test." + suffix;
    invocation.kwargs = std::move(kwargs);
    for (auto& procedure : service_->Procedures()) {
      if (procedure.suffix == suffix) return procedure.handler(invocation, std::move(respond));
    }
    FAIL() << "no procedure " << suffix;
  }

  Result<rpc::Reply> Await(std::future<Result<rpc::Reply>>& answer) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (answer.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
      io_.restart();
      io_.poll();
      if (std::chrono::steady_clock::now() > deadline) return DeadlineExceeded("no answer in 10 s");
    }
    return answer.get();
  }

  json DeployArgs(const std::string& function_id = "fn-1") const {
    return {{"functionId", function_id}, {"version", "1.0.0"}, {"sha256", sha256_}, {"size", package_.size()}};
  }

  size_t Chunks() const { return (package_.size() + 63) / 64; }

  boost::asio::io_context io_;
  FakeConductor conductor_{io_};
  std::shared_ptr<containers::testing::FakeRuntimeState> runtime_;  // what the fake runtime saw
  fs::path root_;
  std::string package_;
  std::string sha256_;
  std::shared_ptr<FunctionService> service_;
};

TEST_F(FunctionServiceTest, DeployFetchesInChunksVerifiesAndInvokes) {
  auto deployed = Call("fn.deploy", DeployArgs());
  ASSERT_TRUE(deployed) << deployed.error().message;
  EXPECT_EQ(deployed->kwargs["cached"], false);
  EXPECT_EQ(deployed->kwargs["sha256"], sha256_);
  EXPECT_EQ(conductor_.calls, static_cast<int>(Chunks()));
  EXPECT_TRUE(fs::exists(root_ / "state" / "packages" / sha256_ / "main.sh"));

  auto invoked = Call("fn.invoke", {{"functionId", "fn-1"}, {"event", {{"n", 7}}}});
  ASSERT_TRUE(invoked) << invoked.error().message;
  EXPECT_EQ(invoked->kwargs["status"], "succeeded") << invoked->kwargs.dump();
  EXPECT_EQ(invoked->kwargs["output"], json({{"echo", {{"n", 7}}}}));
  // Where it ran is labelled once, by the conductor that called this board (issue 12).
  EXPECT_FALSE(invoked->kwargs.contains("boardId"));
  EXPECT_EQ(invoked->kwargs["runtime"], "fake");
  std::lock_guard lock(runtime_->mutex);
  ASSERT_EQ(runtime_->runs.size(), 1u);
  EXPECT_EQ(runtime_->runs[0].code_dir, root_ / "state" / "packages" / sha256_);
}

// Issue #11 (item 5): a limit the board's runtime cannot enforce is said in the deploy reply
// (and sys.info shows how each limit is held), never silently dropped.
TEST_F(FunctionServiceTest, Issue11_DeployReplyNamesLimitsTheRuntimeCannotEnforce) {
  auto full = Call("fn.deploy", DeployArgs());
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_FALSE(full->kwargs.contains("warnings")) << full->kwargs.dump();
  {
    std::lock_guard lock(runtime_->mutex);
    runtime_->limits = {"RLIMIT_DATA per process", "RLIMIT_NPROC per uid", "", "own uid per container"};
  }
  auto partial = Call("fn.deploy", DeployArgs("fn-2"));
  ASSERT_TRUE(partial) << partial.error().message;
  ASSERT_TRUE(partial->kwargs.contains("warnings")) << partial->kwargs.dump();
  EXPECT_EQ(partial->kwargs["warnings"], json::array({"not enforced by fake on this board: CPU quota"}));
  EXPECT_EQ(service_->RuntimeLimits(), json::parse(R"({"memory": "RLIMIT_DATA per process",
      "pids": "RLIMIT_NPROC per uid", "cpu": "", "uid": "own uid per container"})"));
}

TEST_F(FunctionServiceTest, RedeployOfTheSamePackageIsCached) {
  ASSERT_TRUE(Call("fn.deploy", DeployArgs()));
  const int fetches = conductor_.calls;
  auto again = Call("fn.deploy", DeployArgs());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->kwargs["cached"], true);
  auto other = Call("fn.deploy", DeployArgs("fn-2"));  // another function, same package
  ASSERT_TRUE(other);
  EXPECT_EQ(other->kwargs["cached"], true);
  EXPECT_EQ(conductor_.calls, fetches);
}

TEST_F(FunctionServiceTest, ConcurrentDeploysOfOnePackageFetchItOnce) {
  auto a = std::make_shared<std::promise<Result<rpc::Reply>>>();
  auto b = std::make_shared<std::promise<Result<rpc::Reply>>>();
  auto fa = a->get_future();
  auto fb = b->get_future();
  Start("fn.deploy", DeployArgs("fn-a"), [a](Result<rpc::Reply> r) { a->set_value(std::move(r)); });
  Start("fn.deploy", DeployArgs("fn-b"), [b](Result<rpc::Reply> r) { b->set_value(std::move(r)); });
  ASSERT_TRUE(Await(fa));
  ASSERT_TRUE(Await(fb));
  EXPECT_EQ(conductor_.calls, static_cast<int>(Chunks()));
  auto listed = Call("fn.list", json::object());
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->kwargs["functions"].size(), 2u);
}

TEST_F(FunctionServiceTest, BytesThatDoNotMatchTheHashAreRejected) {
  std::string corrupt = package_;
  corrupt[corrupt.size() / 2] ^= 0x5a;
  conductor_.packages[sha256_] = corrupt;
  auto deployed = Call("fn.deploy", DeployArgs());
  ASSERT_FALSE(deployed);
  EXPECT_EQ(deployed.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(deployed.error().message.find("sha256"), std::string::npos) << deployed.error().message;
  EXPECT_FALSE(fs::exists(root_ / "state" / "packages" / sha256_));
  auto listed = Call("fn.list", json::object());
  EXPECT_TRUE(listed->kwargs["functions"].empty());
}

TEST_F(FunctionServiceTest, TheConductorsRefusalIsPassedOn) {
  conductor_.refuse = true;
  auto deployed = Call("fn.deploy", DeployArgs());
  ASSERT_FALSE(deployed);
  EXPECT_EQ(deployed.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(FunctionServiceTest, BadArgumentsAreRejectedBeforeAnyFetch) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"version", "1"}, {"sha256", sha256_}, {"size", 10}}, "functionId"},
      {{{"functionId", "../x"}, {"version", "1"}, {"sha256", sha256_}, {"size", 10}}, "functionId"},
      {{{"functionId", "f"}, {"version", "1"}, {"sha256", "ABC"}, {"size", 10}}, "sha256"},
      {{{"functionId", "f"}, {"version", "1"}, {"sha256", sha256_}, {"size", 0}}, "size"},
      {{{"functionId", "f"}, {"version", "1"}, {"sha256", sha256_}, {"size", 1ull << 40}}, "size"},
      {{{"functionId", "f"}, {"version", ""}, {"sha256", sha256_}, {"size", 10}}, "version"},
  };
  for (const auto& [kwargs, field] : cases) {
    auto deployed = Call("fn.deploy", kwargs);
    ASSERT_FALSE(deployed) << kwargs.dump();
    EXPECT_EQ(deployed.error().code, ErrorCode::kInvalidArgument) << kwargs.dump();
    EXPECT_NE(deployed.error().message.find(field), std::string::npos) << deployed.error().message;
  }
  EXPECT_EQ(conductor_.calls, 0);
}

TEST_F(FunctionServiceTest, RemoveForgetsTheFunctionAndItsUnusedPackage) {
  ASSERT_TRUE(Call("fn.deploy", DeployArgs()));
  auto removed = Call("fn.remove", {{"functionId", "fn-1"}});
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(removed->kwargs["removed"], true);
  auto invoked = Call("fn.invoke", {{"functionId", "fn-1"}, {"event", json::object()}});
  ASSERT_FALSE(invoked);
  EXPECT_EQ(invoked.error().code, ErrorCode::kNotFound);
  auto again = Call("fn.remove", {{"functionId", "fn-1"}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  service_.reset();  // joins the blocking pool, which deletes the package
  EXPECT_FALSE(fs::exists(root_ / "state" / "packages" / sha256_));
}

// A board acknowledges a deploy or a remove only once deployments.json says so: a crash right
// after the answer cannot take back what the conductor was told.
TEST_F(FunctionServiceTest, DeployAndRemoveAnswerOnlyOnceTheBookIsOnDisk) {
  const fs::path book = root_ / "state" / "deployments.json";
  auto read_book = [&] {
    std::ifstream in(book);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  ASSERT_TRUE(Call("fn.deploy", DeployArgs()));
  EXPECT_NE(read_book().find("\"fn-1\""), std::string::npos) << read_book();
  ASSERT_TRUE(Call("fn.remove", {{"functionId", "fn-1"}}));
  EXPECT_EQ(read_book().find("\"fn-1\""), std::string::npos) << read_book();
}

TEST_F(FunctionServiceTest, DeploymentsAreRestoredAfterARestartWithoutFetching) {
  ASSERT_TRUE(Call("fn.deploy", DeployArgs()));
  service_.reset();
  const int fetches = conductor_.calls;
  service_ = MakeService();
  auto invoked = Call("fn.invoke", {{"functionId", "fn-1"}, {"event", {{"after", "restart"}}}});
  ASSERT_TRUE(invoked) << invoked.error().message;
  EXPECT_EQ(invoked->kwargs["output"], json({{"echo", {{"after", "restart"}}}}));
  EXPECT_EQ(conductor_.calls, fetches);
}

TEST_F(FunctionServiceTest, WithoutARuntimeFunctionsAreUnavailableWithTheReason) {
  service_ = MakeService(/*with_runtime=*/false);
  auto deployed = Call("fn.deploy", DeployArgs());
  ASSERT_FALSE(deployed);
  EXPECT_EQ(deployed.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(deployed.error().message.find("no runtime in this test"), std::string::npos);
  EXPECT_EQ(service_->RuntimeDescription(), "none (no runtime in this test)");
  auto listed = Call("fn.list", json::object());
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->kwargs["functions"].empty());
}

TEST_F(FunctionServiceTest, InvokingAFunctionThatIsNotDeployedIsNotFound) {
  auto invoked = Call("fn.invoke", {{"functionId", "fn-404"}, {"event", 1}});
  ASSERT_FALSE(invoked);
  EXPECT_EQ(invoked.error().code, ErrorCode::kNotFound);
  EXPECT_NE(invoked.error().message.find("brd-test"), std::string::npos);
}

// ---- records that must fit one WAMP message (issue 11) ----

TEST(FitRecordTest, ASmallRecordIsUntouched) {
  json record = {{"status", "succeeded"}, {"output", {{"n", 1}}}, {"logs", "hello"}};
  const json before = record;
  FitRecord(record, 1000);
  EXPECT_EQ(record, before);
}

TEST(FitRecordTest, Issue11_LogsAreTrimmedFirstAndTheOutputKept) {
  json record = {{"status", "succeeded"}, {"output", std::string(900'000, 'x')}, {"logs", std::string(300'000, 'l')}};
  const size_t size = FitRecord(record, (1u << 20) - 512);
  EXPECT_LE(size, (1u << 20) - 512);
  EXPECT_EQ(record["output"].get<std::string>().size(), 900'000u);
  EXPECT_EQ(record["status"], "succeeded");
  EXPECT_NE(record["logs"].get<std::string>().find("logs trimmed to fit"), std::string::npos);
  EXPECT_EQ(json::to_msgpack(record).size(), size);
}

TEST(FitRecordTest, TrimmingNeverSplitsAUtf8Character) {
  std::string logs;
  for (int i = 0; i < 1000; ++i) logs += "\xc3\xa9";  // é
  json record = {{"status", "succeeded"}, {"output", nullptr}, {"logs", logs}};
  FitRecord(record, 1001);
  const std::string& text = record["logs"].get_ref<const std::string&>();
  // Still valid UTF-8: dump() would throw on a split sequence.
  EXPECT_NO_THROW(record.dump());
  EXPECT_LT(text.size(), logs.size());
}

TEST(FitRecordTest, AnOutputThatCannotFitFailsItsOwnRecord) {
  json record = {{"status", "succeeded"}, {"output", std::string(2'000'000, 'x')}, {"logs", "l"}};
  const size_t size = FitRecord(record, (1u << 20) - 512);
  EXPECT_LE(size, (1u << 20) - 512);
  EXPECT_EQ(record["status"], "failed");
  EXPECT_TRUE(record["output"].is_null());
  EXPECT_NE(record["error"].get<std::string>().find("more than one message to the conductor carries"),
            std::string::npos);
}

}  // namespace
}  // namespace ew::agent::functions
