#include "cloud-conductor/agents/rollout_manager.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "cloud-conductor/registry/store.hpp"

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
    EXPECT_TRUE(manager_.Start());
    package_.sha256 = std::string(64, 'a');
    package_.version = "0.1.0-2";
    package_.size = 1000;
    package_.signature = std::string(upd::kSignatureBytes, '\x42');
  }

  ~RolloutManagerTest() override { Drain(); }

  // Returns once every store write queued so far is done (the pool has one thread, in order).
  void Drain() {
    std::promise<void> done;
    boost::asio::post(blocking_, [&done] { done.set_value(); });
    done.get_future().wait();
  }

  // sys.update calls the boards got, in order.
  std::vector<std::string> Asked(const testing::FakeBoardGateway* gateway = nullptr) const {
    std::vector<std::string> out;
    for (const auto& call : (gateway ? *gateway : gateway_).calls()) {
      if (call.procedure == upd::kUpdate.suffix) out.push_back(call.board_id);
    }
    return out;
  }

  void Report(const std::string& board, const std::string& update_id, UpdateState state,
              const std::string& package_version = "", testing::FakeBoardGateway* gateway = nullptr) {
    upd::UpdateReport report;
    report.update_id = update_id;
    report.state = state;
    report.agent_version = "0.1.0";
    report.package_version = package_version;
    Result<wamp::Payload> answer = Internal("not answered");
    (gateway ? *gateway : gateway_)
        .CallConductor(board, upd::kReport.uri, report.ToPayload(),
                       [&answer](Result<wamp::Payload> r) { answer = std::move(r); });
    ASSERT_TRUE(answer) << answer.error().message;
  }

  static const BoardUpdate& BoardOf(const Rollout& rollout, const std::string& board) {
    for (const auto& b : rollout.boards) {
      if (b.board_id == board) return b;
    }
    throw std::runtime_error("no board " + board);
  }

  UpdateState StateOf(const std::string& id, const std::string& board, const RolloutManager* manager = nullptr) {
    auto rollout = (manager ? *manager : manager_).Get(id);
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
  std::unique_ptr<RolloutStore> store_ = RolloutStore::Open(":memory:").value();
  RolloutManager manager_{gateway_, packages_, *store_, blocking_, clock_, io_.get_executor()};
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

// A conductor restart (a second manager on the same registry file) keeps every rollout; the one
// that was running is interrupted: no board is asked any more, the fetching board failed (its
// fetch ended with the old session), the installing board's report still lands, pending stays.
TEST_F(RolloutManagerTest, RolloutsOutliveARestartAndARunningOneIsInterrupted) {
  const auto path = std::filesystem::path(::testing::TempDir()) / "rollouts-restart.db";
  std::filesystem::remove(path);
  ASSERT_TRUE(registry::OpenSqliteStore(path.string()));  // creates and migrates the file
  auto file_store = RolloutStore::Open(path.string());
  ASSERT_TRUE(file_store) << file_store.error().message;
  std::string finished_id, running_id;
  package_.signature[7] = '\0';
  {
    RolloutManager before{gateway_, packages_, **file_store, blocking_, clock_, io_.get_executor()};
    ASSERT_TRUE(before.Start());
    auto finished = before.Create(package_, {"brd-3"}, 1, 60, "admin");
    ASSERT_TRUE(finished);
    finished_id = finished->id;
    Report("brd-3", finished_id, UpdateState::kOnline, "0.1.0-2");
    clock_.Advance(std::chrono::seconds(5));
    auto running = before.Create(package_, {"brd-1", "brd-2", "brd-3"}, 2, 60, "admin");
    ASSERT_TRUE(running) << running.error().message;
    running_id = running->id;
    Report("brd-2", running_id, UpdateState::kInstalling, "0.1.0-1");
    EXPECT_EQ(Asked(), (std::vector<std::string>{"brd-3", "brd-1", "brd-2"}));
    Drain();
  }

  testing::FakeBoardGateway after_gateway;
  for (const char* b : {"brd-1", "brd-2", "brd-3"}) after_gateway.SetOnline(b);
  auto reopened = RolloutStore::Open(path.string());
  ASSERT_TRUE(reopened);
  RolloutManager after{after_gateway, packages_, **reopened, blocking_, clock_, io_.get_executor()};
  ASSERT_TRUE(after.Start());
  auto list = after.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, running_id) << "newest first";
  EXPECT_EQ(list[1].state, RolloutState::kDone);
  EXPECT_EQ(BoardOf(list[1], "brd-3").package_version, "0.1.0-2");
  const Rollout& r = list[0];
  EXPECT_EQ(r.state, RolloutState::kInterrupted);
  EXPECT_EQ(r.parallel, 2u);
  EXPECT_EQ(r.package.sha256, package_.sha256);
  EXPECT_EQ(r.package.signature, package_.signature) << "the raw signature, NUL bytes included";
  EXPECT_NE(r.stop_reason.find("the conductor restarted"), std::string::npos) << r.stop_reason;
  EXPECT_NE(r.stop_reason.find("1 board(s) were installing"), std::string::npos) << r.stop_reason;
  EXPECT_NE(r.stop_reason.find("1 were not asked yet"), std::string::npos) << r.stop_reason;
  ASSERT_EQ(r.boards.size(), 3u);
  EXPECT_EQ(r.boards[0].board_id, "brd-1") << "rolling order kept";
  EXPECT_EQ(r.boards[0].state, UpdateState::kFailed);
  EXPECT_NE(r.boards[0].message.find("interrupted"), std::string::npos);
  EXPECT_EQ(r.boards[1].state, UpdateState::kInstalling);
  EXPECT_EQ(r.boards[1].package_version, "0.1.0-1");
  EXPECT_EQ(r.boards[2].state, UpdateState::kPending);
  EXPECT_TRUE(Asked(&after_gateway).empty()) << "an interrupted rollout asks nobody";

  // brd-2 is still installing: a new rollout may not reach it yet; brd-3 (pending) is free.
  EXPECT_EQ(after.Create(package_, {"brd-2"}, 1, 60, "admin").error().code, ErrorCode::kConflict);
  // The installing board rejoins on the new agent and says so: recorded, and still nobody asked.
  Report("brd-2", running_id, UpdateState::kOnline, "0.1.0-2", &after_gateway);
  EXPECT_EQ(StateOf(running_id, "brd-2", &after), UpdateState::kOnline);
  EXPECT_EQ(after.Get(running_id)->state, RolloutState::kInterrupted);
  EXPECT_TRUE(Asked(&after_gateway).empty());
  EXPECT_EQ(after.VersionsOf("brd-2")->package_version, "0.1.0-2");
  Drain();

  // A third start reads the board's report; an interrupted rollout is not interrupted again.
  auto third_store = RolloutStore::Open(path.string());
  ASSERT_TRUE(third_store);
  testing::FakeBoardGateway third_gateway;
  RolloutManager third{third_gateway, packages_, **third_store, blocking_, clock_, io_.get_executor()};
  ASSERT_TRUE(third.Start());
  auto again = third.Get(running_id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->stop_reason, r.stop_reason);
  EXPECT_EQ(BoardOf(*again, "brd-2").state, UpdateState::kOnline);
  EXPECT_EQ(BoardOf(*again, "brd-3").state, UpdateState::kPending);
}

TEST_F(RolloutManagerTest, ARolloutIsStoredWithItsFirstBoardsAskedBeforeAnyBoardHearsOfIt) {
  std::optional<Rollout> seen_by_board;
  gateway_.SetScript("brd-1", [&](const std::string& procedure, const wamp::Payload&) -> Result<wamp::Payload> {
    auto stored = store_->List();
    if (stored && !stored->empty()) seen_by_board = stored->front();
    return wamp::Payload{};
  });
  auto rollout = manager_.Create(package_, {"brd-1", "brd-2"}, 1, 60, "admin");
  ASSERT_TRUE(rollout);
  ASSERT_TRUE(seen_by_board) << "the rollout was not in the store when brd-1 was asked";
  EXPECT_EQ(seen_by_board->id, rollout->id);
  EXPECT_EQ(seen_by_board->state, RolloutState::kRunning);
  EXPECT_EQ(seen_by_board->boards[0].state, UpdateState::kFetching);
  EXPECT_EQ(seen_by_board->boards[1].state, UpdateState::kPending);
}

TEST_F(RolloutManagerTest, OnlyTheNewestFinishedRolloutsAreKept) {
  RolloutManagerOptions options;
  options.max_finished_rollouts = 2;
  RolloutManager manager{gateway_, packages_, *store_, blocking_, clock_, io_.get_executor(), options};
  ASSERT_TRUE(manager.Start());
  gateway_.SetOffline("brd-1");  // each rollout fails at once: finished
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(std::chrono::seconds(1));
    auto rollout = manager.Create(package_, {"brd-1"}, 1, 60, "admin");
    ASSERT_TRUE(rollout);
    EXPECT_EQ(manager.Get(rollout->id)->state, RolloutState::kStopped);
    ids.push_back(rollout->id);
  }
  // A running one is never pruned.
  clock_.Advance(std::chrono::seconds(1));
  auto running = manager.Create(package_, {"brd-2"}, 1, 60, "admin");
  ASSERT_TRUE(running);
  auto list = manager.List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].id, running->id);
  EXPECT_EQ(list[1].id, ids[3]);
  EXPECT_EQ(list[2].id, ids[2]);
  EXPECT_EQ(manager.Get(ids[0]).error().code, ErrorCode::kNotFound);
  Drain();
  auto stored = store_->List();
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 3u);
  EXPECT_EQ((*stored)[2].id, ids[2]);
  EXPECT_EQ((*stored)[0].boards[0].state, UpdateState::kFetching) << "the store follows each change";
}

}  // namespace
}  // namespace ew::conductor::agents
