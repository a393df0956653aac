// The agent's side of updates over the air: fetch by chunks, sha256 check, staging for the root
// helper, reports; and the health marker once joined. A fake conductor serves the chunks.
#include "device-agent/update/agent_updater.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "common/ids/ids.hpp"

namespace ew::agent::update {
namespace {

namespace fs = std::filesystem;
namespace upd = contract::update;

class PackageConductor final : public rpc::ConductorClient {
 public:
  void Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds,
            std::function<void(Result<rpc::Reply>)> done) override {
    if (procedure == upd::kReport.uri) {
      auto parsed = upd::UpdateReport::Parse(arguments);
      EXPECT_TRUE(parsed) << parsed.error().message;
      if (parsed) reports.push_back(*parsed);
      return done(rpc::Reply{});
    }
    auto request = upd::FetchRequest::Parse(arguments);
    if (!request) return done(tl::unexpected(request.error()));
    ++fetches;
    contract::fn::FetchReply reply;
    reply.size = bytes.size();
    const auto end = std::min<size_t>(bytes.size(), request->offset + request->length);
    reply.bytes.assign(bytes.begin() + static_cast<std::ptrdiff_t>(request->offset),
                       bytes.begin() + static_cast<std::ptrdiff_t>(end));
    done(reply.ToPayload());
  }
  bool Publish(const std::string&, const rpc::Reply&) override { return true; }

  std::string bytes;
  int fetches = 0;
  std::vector<upd::UpdateReport> reports;
};

class AgentUpdaterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("updater-" + ids::NewId("t"));
    AgentUpdaterOptions options;
    options.dir = dir_;
    options.agent_version = "0.1.0";
    options.chunk_bytes = 1000;
    options.helper_poll = std::chrono::milliseconds(10);
    updater_ = std::make_unique<AgentUpdater>(io_, options);
    updater_->SetConductor(&conductor_);
    conductor_.bytes = std::string(2500, 'x') + "end";
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<rpc::Reply> Update(const std::string& sha256, uint64_t size, std::string signature = kSignature) {
    upd::UpdateRequest request;
    request.update_id = "upd-1";
    request.sha256 = sha256;
    request.size = size;
    request.version = "0.1.0-2";
    request.deadline_seconds = 30;
    request.signature = signature;
    rpc::Request call;
    static_cast<wamp::Payload&>(call) = request.ToPayload();
    std::optional<Result<rpc::Reply>> answer;
    updater_->Update(call, [&](Result<rpc::Reply> r) { answer = std::move(r); });
    // Staging runs on a thread of its own and posts back: run until the last report is in.
    auto work = boost::asio::make_work_guard(io_);
    // (A refused request is answered at once and reports nothing.)
    for (int i = 0; i < 500 && !(answer && !*answer) &&
                    (conductor_.reports.empty() || conductor_.reports.back().state == upd::UpdateState::kFetching);
         ++i) {
      io_.run_for(std::chrono::milliseconds(10));
      io_.restart();
    }
    return *answer;
  }

  // Runs the io_context until `done` or about five seconds.
  template <typename Done>
  void RunUntil(Done done) {
    auto work = boost::asio::make_work_guard(io_);
    for (int i = 0; i < 500 && !done(); ++i) {
      io_.run_for(std::chrono::milliseconds(10));
      io_.restart();
    }
  }

  static inline const std::string kSignature = std::string(64, '\x5a');

  static std::string Read(const fs::path& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  fs::path dir_;
  boost::asio::io_context io_;
  PackageConductor conductor_;
  std::unique_ptr<AgentUpdater> updater_;
};

TEST_F(AgentUpdaterTest, AVerifiedPackageIsStagedForTheHelper) {
  auto answer = Update(ids::Sha256Hex(conductor_.bytes), conductor_.bytes.size());
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(upd::UpdateReport::Parse(*answer)->state, upd::UpdateState::kFetching);
  EXPECT_EQ(conductor_.fetches, 3);
  ASSERT_EQ(conductor_.reports.size(), 1u);
  EXPECT_EQ(conductor_.reports[0].state, upd::UpdateState::kInstalling);
  EXPECT_EQ(Read(dir_ / "upd-1.deb"), conductor_.bytes);
  EXPECT_EQ(Read(dir_ / "upd-1.sig"), kSignature) << "the signature is staged for the helper, as sent";
  EXPECT_EQ(Read(dir_ / "request"), "id=upd-1\nsha256=" + ids::Sha256Hex(conductor_.bytes) + "\nsize=" +
                                        std::to_string(conductor_.bytes.size()) + "\nversion=0.1.0-2\ndeadline=30\n");
  // While it waits for the helper, another update is refused.
  auto again = Update(ids::Sha256Hex(conductor_.bytes), conductor_.bytes.size());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
}

// Issue 16 review: the helper installs signed packages only, so an unsigned request is refused
// at once instead of being fetched for a certain refusal.
TEST_F(AgentUpdaterTest, AnUnsignedUpdateIsRefusedBeforeAnythingIsFetched) {
  auto answer = Update(ids::Sha256Hex(conductor_.bytes), conductor_.bytes.size(), "");
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(answer.error().message.find("signature"), std::string::npos);
  EXPECT_EQ(conductor_.fetches, 0);
  EXPECT_FALSE(fs::exists(dir_ / "request"));
}

// The helper refuses a staged package (bad signature, no key on the board): nothing restarts the
// agent, so the agent itself reads the verdict and reports it.
TEST_F(AgentUpdaterTest, TheHelpersRefusalIsReportedWithItsMessage) {
  auto answer = Update(ids::Sha256Hex(conductor_.bytes), conductor_.bytes.size());
  ASSERT_TRUE(answer);
  ASSERT_EQ(conductor_.reports.size(), 1u);
  EXPECT_EQ(conductor_.reports[0].state, upd::UpdateState::kInstalling);
  {
    std::ofstream status(dir_ / "status");  // another update's verdict: not this one's
    status << "id=upd-0\nstate=failed\nversion=0.1.0-1\nmessage=old\n";
  }
  int rounds = 0;
  RunUntil([&] { return ++rounds > 20; });  // 20 polls or so
  ASSERT_EQ(conductor_.reports.size(), 1u);
  {
    std::ofstream status(dir_ / "status.tmp");
    status << "id=upd-1\nstate=failed\nversion=0.1.0-1\nmessage=the package's signature does not verify: refused\n";
  }
  fs::rename(dir_ / "status.tmp", dir_ / "status");
  RunUntil([&] { return conductor_.reports.size() > 1; });
  ASSERT_EQ(conductor_.reports.size(), 2u);
  EXPECT_EQ(conductor_.reports[1].state, upd::UpdateState::kFailed);
  EXPECT_EQ(conductor_.reports[1].message, "the package's signature does not verify: refused");
}

TEST_F(AgentUpdaterTest, BytesThatDoNotMatchTheSha256AreNotStaged) {
  auto answer = Update(std::string(64, 'b'), conductor_.bytes.size());
  ASSERT_TRUE(answer);
  ASSERT_EQ(conductor_.reports.size(), 1u);
  EXPECT_EQ(conductor_.reports[0].state, upd::UpdateState::kFailed);
  EXPECT_NE(conductor_.reports[0].message.find("sha256"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "request"));
  EXPECT_FALSE(fs::exists(dir_ / "upd-1.deb"));
}

TEST_F(AgentUpdaterTest, ASizeOtherThanTheConductorsFails) {
  auto answer = Update(ids::Sha256Hex(conductor_.bytes), conductor_.bytes.size() + 1);
  ASSERT_TRUE(answer);
  ASSERT_EQ(conductor_.reports.size(), 1u);
  EXPECT_EQ(conductor_.reports[0].state, upd::UpdateState::kFailed);
  EXPECT_FALSE(fs::exists(dir_ / "request"));
}

TEST_F(AgentUpdaterTest, OnceJoinedTheNewAgentWritesTheHealthMarkerTheHelperWaitsFor) {
  ASSERT_TRUE(updater_->Prepare());
  updater_->OnReady("ws://x", 1);  // no status: never updated, nothing to say
  EXPECT_TRUE(conductor_.reports.empty());
  EXPECT_EQ(updater_->PackageVersion(), "");
  {
    std::ofstream status(dir_ / "status");
    status << "id=upd-7\nstate=awaiting\nversion=0.1.0-2\nmessage=waiting\n";
  }
  updater_->OnReady("ws://x", 2);
  EXPECT_EQ(Read(dir_ / "healthy"), "upd-7\n");
  ASSERT_EQ(conductor_.reports.size(), 1u);
  EXPECT_EQ(conductor_.reports[0].state, upd::UpdateState::kOnline);
  EXPECT_EQ(conductor_.reports[0].package_version, "0.1.0-2");
  EXPECT_EQ(updater_->PackageVersion(), "0.1.0-2");
  {
    std::ofstream status(dir_ / "status");
    status << "id=upd-8\nstate=rolled-back\nversion=0.1.0-1\nmessage=did not join\n";
  }
  fs::remove(dir_ / "healthy");
  updater_->OnReady("ws://x", 3);
  EXPECT_FALSE(fs::exists(dir_ / "healthy")) << "only an awaiting helper gets a marker";
  ASSERT_EQ(conductor_.reports.size(), 2u);
  EXPECT_EQ(conductor_.reports[1].state, upd::UpdateState::kRolledBack);
  EXPECT_EQ(conductor_.reports[1].message, "did not join");
  // A status file that is not key=value lines is ignored.
  {
    std::ofstream status(dir_ / "status");
    status << "garbage\n";
  }
  updater_->OnReady("ws://x", 4);
  EXPECT_EQ(conductor_.reports.size(), 2u);
}

TEST_F(AgentUpdaterTest, MalformedRequestsAreRefused) {
  rpc::Request call;
  call.kwargs = {{"updateId", "../../etc"}, {"sha256", std::string(64, 'a')}, {"size", 10}};
  std::optional<Result<rpc::Reply>> answer;
  updater_->Update(call, [&](Result<rpc::Reply> r) { answer = std::move(r); });
  ASSERT_TRUE(answer && !*answer);
  EXPECT_EQ(answer->error().code, ErrorCode::kInvalidArgument);
  call.kwargs = {{"updateId", "u"}, {"sha256", std::string(64, 'a')}, {"size", upd::kMaxPackageBytes + 1}};
  updater_->Update(call, [&](Result<rpc::Reply> r) { answer = std::move(r); });
  EXPECT_EQ(answer->error().code, ErrorCode::kInvalidArgument);
  call.kwargs = {{"updateId", "u"}, {"sha256", std::string(64, 'a')}, {"size", 10}, {"deadlineSeconds", 5}};
  updater_->Update(call, [&](Result<rpc::Reply> r) { answer = std::move(r); });
  EXPECT_EQ(answer->error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_));
}

}  // namespace
}  // namespace ew::agent::update
