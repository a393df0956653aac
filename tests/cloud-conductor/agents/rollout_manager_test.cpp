#include "cloud-conductor/agents/rollout_manager.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "common/clock/clock.hpp"
#include "common/contract/sys.hpp"
#include "tests/support/fake_board_gateway.hpp"

namespace ew::conductor::agents {
namespace {

namespace upd = contract::update;
using upd::UpdateState;

class RolloutManagerTest : public ::testing::Test {
 protected:
  RolloutManagerTest() : packages_(::testing::TempDir() + "/rollout-packages") {
    for (const char* b : {"brd-1", "brd-2", "brd-3"}) gateway_.SetOnline(b);
    manager_.Start();
    package_.sha256 = std::string(64, 'a');
    package_.version = "0.1.0-2";
    package_.size = 1000;
    package_.signature = std::string(upd::kSignatureBytes, '\x42');
  }

  // sys.update calls the boards got, in order.
  std::vector<std::string> Asked() const {
    std::vector<std::string> out;
    for (const auto& call : gateway_.calls()) {
      if (call.procedure == upd::kUpdate.suffix) out.push_back(call.board_id);
    }
    return out;
  }

  void Report(const std::string& board, const std::string& update_id, UpdateState state,
              const std::string& package_version = "") {
    upd::UpdateReport report;
    report.update_id = update_id;
    report.state = state;
    report.agent_version = "0.1.0";
    report.package_version = package_version;
    Result<wamp::Payload> answer = Internal("not answered");
    gateway_.CallConductor(board, upd::kReport.uri, report.ToPayload(),
                           [&answer](Result<wamp::Payload> r) { answer = std::move(r); });
    ASSERT_TRUE(answer) << answer.error().message;
  }

  UpdateState StateOf(const std::string& id, const std::string& board) {
    auto rollout = manager_.Get(id);
    EXPECT_TRUE(rollout);
    for (const auto& b : rollout->boards) {
      if (b.board_id == board) return b.state;
    }
    ADD_FAILURE() << "no board " << board;
    return UpdateState::kPending;
  }

  testing::FakeBoardGateway gateway_;
  AgentPackageStore packages_;
  boost::asio::thread_pool blocking_{1};
  boost::asio::io_context io_;
  ManualClock clock_;
  RolloutManager manager_{gateway_, packages_, blocking_, clock_, io_.get_executor()};
  AgentPackage package_;
};

TEST_F(RolloutManagerTest, RollsNAtATimeAndStopsAtTheFirstRollback) {
  auto rollout = manager_.Create(package_, {"brd-1", "brd-2", "brd-3"}, 1, 60, "admin");
  ASSERT_TRUE(rollout) << rollout.error().message;
  EXPECT_EQ(Asked(), std::vector<std::string>{"brd-1"});
  auto request = upd::UpdateRequest::Parse(gateway_.calls().back().payload);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->update_id, rollout->id);
  EXPECT_EQ(request->sha256, package_.sha256);
  EXPECT_EQ(request->deadline_seconds, 60);
  EXPECT_EQ(request->signature, package_.signature) << "the operator's signature travels with the package";

  Report("brd-1", rollout->id, UpdateState::kInstalling);
  EXPECT_EQ(StateOf(rollout->id, "brd-1"), UpdateState::kInstalling);
  EXPECT_EQ(Asked().size(), 1u) << "the next board waits for this one to come online";
  Report("brd-1", rollout->id, UpdateState::kOnline, "0.1.0-2");
  EXPECT_EQ(Asked(), (std::vector<std::string>{"brd-1", "brd-2"}));
  EXPECT_EQ(manager_.VersionsOf("brd-1")->package_version, "0.1.0-2");

  Report("brd-2", rollout->id, UpdateState::kRolledBack, "0.1.0-1");
  auto stopped = manager_.Get(rollout->id);
  EXPECT_EQ(stopped->state, RolloutState::kStopped);
  EXPECT_NE(stopped->stop_reason.find("brd-2 rolled-back"), std::string::npos) << stopped->stop_reason;
  EXPECT_EQ(StateOf(rollout->id, "brd-3"), UpdateState::kPending);
  EXPECT_EQ(Asked().size(), 2u) << "a stopped rollout asks nobody else";

  // A late report of a final board changes nothing; a board never asked cannot report.
  Report("brd-2", rollout->id, UpdateState::kOnline);
  EXPECT_EQ(StateOf(rollout->id, "brd-2"), UpdateState::kRolledBack);
  Report("brd-3", rollout->id, UpdateState::kOnline);
  EXPECT_EQ(StateOf(rollout->id, "brd-3"), UpdateState::kPending);
}

TEST_F(RolloutManagerTest, ParallelBoardsAndDone) {
  auto rollout = manager_.Create(package_, {"brd-1", "brd-2", "brd-3"}, 2, 60, "admin");
  ASSERT_TRUE(rollout);
  EXPECT_EQ(Asked(), (std::vector<std::string>{"brd-1", "brd-2"}));
  Report("brd-2", rollout->id, UpdateState::kOnline);
  EXPECT_EQ(Asked(), (std::vector<std::string>{"brd-1", "brd-2", "brd-3"}));
  Report("brd-1", rollout->id, UpdateState::kOnline);
  EXPECT_EQ(manager_.Get(rollout->id)->state, RolloutState::kRunning);
  Report("brd-3", rollout->id, UpdateState::kOnline);
  EXPECT_EQ(manager_.Get(rollout->id)->state, RolloutState::kDone);
}

TEST_F(RolloutManagerTest, AnOfflineBoardFailsAndSilenceFailsAfterTheDeadline) {
  gateway_.SetOffline("brd-1");
  auto rollout = manager_.Create(package_, {"brd-1", "brd-2"}, 1, 60, "admin");
  ASSERT_TRUE(rollout);
  EXPECT_EQ(StateOf(rollout->id, "brd-1"), UpdateState::kFailed);
  EXPECT_EQ(manager_.Get(rollout->id)->state, RolloutState::kStopped);

  auto second = manager_.Create(package_, {"brd-2"}, 1, 60, "admin");
  ASSERT_TRUE(second);
  EXPECT_EQ(StateOf(second->id, "brd-2"), UpdateState::kFetching);
  clock_.Advance(std::chrono::seconds(60 + 300));
  manager_.CheckSilence();
  EXPECT_EQ(StateOf(second->id, "brd-2"), UpdateState::kFetching) << "not before deadline + grace";
  clock_.Advance(std::chrono::seconds(1));
  manager_.CheckSilence();
  EXPECT_EQ(StateOf(second->id, "brd-2"), UpdateState::kFailed);
}

TEST_F(RolloutManagerTest, BadRequestsChangeNothing) {
  EXPECT_EQ(manager_.Create(package_, {}, 1, 60, "admin").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_.Create(package_, {"brd-1", "brd-1"}, 1, 60, "admin").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_.Create(package_, {"brd-1"}, 0, 60, "admin").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_.Create(package_, {"brd-1"}, 1, 9, "admin").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_.Create(package_, {"brd-1"}, 1, 3601, "admin").error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(manager_.List().empty());
  EXPECT_TRUE(Asked().empty());
  ASSERT_TRUE(manager_.Create(package_, {"brd-1"}, 1, 60, "admin"));
  EXPECT_EQ(manager_.Create(package_, {"brd-2", "brd-1"}, 1, 60, "admin").error().code, ErrorCode::kConflict);
}

TEST_F(RolloutManagerTest, OnlyABoardOfTheUpdateWhileFetchingGetsTheBytes) {
  auto rollout = manager_.Create(package_, {"brd-1", "brd-2"}, 1, 60, "admin");
  ASSERT_TRUE(rollout);
  auto fetch = [&](const std::string& board, const std::string& id) {
    Result<wamp::Payload> answer = Internal("not answered");
    gateway_.CallConductor(board, upd::kFetch.uri, upd::FetchRequest{id, 0, 100}.ToPayload(),
                           [&answer](Result<wamp::Payload> r) { answer = std::move(r); });
    return answer;
  };
  EXPECT_EQ(fetch("brd-2", rollout->id).error().code, ErrorCode::kPermissionDenied) << "not asked yet";
  EXPECT_EQ(fetch("brd-3", rollout->id).error().code, ErrorCode::kPermissionDenied) << "not in the update";
  EXPECT_EQ(fetch("brd-1", "upd-other").error().code, ErrorCode::kPermissionDenied);
  Result<wamp::Payload> malformed = Internal("not answered");
  gateway_.CallConductor("brd-1", upd::kFetch.uri, wamp::Payload{{}, {{"updateId", "../x"}, {"offset", 0}, {"length", 1}}},
                         [&malformed](Result<wamp::Payload> r) { malformed = std::move(r); });
  EXPECT_EQ(malformed.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(RolloutManagerTest, VersionsComeFromSysInfoWhenABoardRegistersIt) {
  gateway_.SetScript("brd-1", [](const std::string& procedure, const wamp::Payload&) -> Result<wamp::Payload> {
    if (procedure != contract::sys::kInfo.suffix) return NotFound("no");
    contract::sys::SysInfo info;
    info.board_id = "brd-1";
    info.agent_version = "0.1.0";
    info.package_version = "0.1.0-7";
    return info.ToPayload();
  });
  EXPECT_FALSE(manager_.VersionsOf("brd-1"));
  gateway_.Registered("brd-1", "sys.info");
  ASSERT_TRUE(manager_.VersionsOf("brd-1"));
  EXPECT_EQ(manager_.VersionsOf("brd-1")->agent_version, "0.1.0");
  EXPECT_EQ(manager_.VersionsOf("brd-1")->package_version, "0.1.0-7");
}

}  // namespace
}  // namespace ew::conductor::agents
