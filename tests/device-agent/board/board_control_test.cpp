// sys.restart / sys.reboot / sys.logs on a real io_context; the reboot command is a harmless
// real command (touch a file, or fail) run through /bin/sh.
#include "device-agent/board/board_control.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/contract/sys.hpp"
#include "common/log/log.hpp"
#include "common/log/recent_lines.hpp"

namespace ew::agent::board {
namespace {

namespace sys = contract::sys;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class BoardControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ew-board-control-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs the loop until `done` or 10 s pass (real time: the action timer and the child are real).
  template <typename Pred>
  bool RunUntil(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(20ms);
    }
    return done();
  }

  boost::asio::io_context io_;
  std::filesystem::path dir_;
};

TEST_F(BoardControlTest, RestartAnswersFirstThenAsksToExitWithTheRestartStatus) {
  std::vector<int> exits;
  BoardControlOptions options;
  options.action_delay = 50ms;
  BoardControl control(io_, options, [&](int status) { exits.push_back(status); });
  auto reply = control.Restart();
  ASSERT_TRUE(reply) << reply.error().message;
  auto parsed = sys::SysActionReply::Parse(*reply);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->action, "restart");
  EXPECT_EQ(parsed->delay_ms, 50);
  EXPECT_TRUE(exits.empty());  // not before the answer is out
  // A second request while one is pending changes nothing.
  auto again = control.Restart();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  ASSERT_TRUE(RunUntil([&] { return !exits.empty(); }));
  EXPECT_EQ(exits, std::vector<int>{BoardControl::kRestartExitStatus});
  EXPECT_EQ(BoardControl::kRestartExitStatus, 75);
}

TEST_F(BoardControlTest, RebootIsRefusedWithoutAConfiguredCommand) {
  BoardControl control(io_, BoardControlOptions{}, [](int) { FAIL() << "no exit expected"; });
  auto reply = control.Reboot();
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(reply.error().message, HasSubstr("reboot_command"));
}

TEST_F(BoardControlTest, RebootRunsTheConfiguredCommandAfterAnswering) {
  const auto marker = dir_ / "rebooted";
  BoardControlOptions options;
  options.action_delay = 50ms;
  options.reboot_command = "echo lots of output; touch '" + marker.string() + "'";
  BoardControl control(io_, options, [](int) { FAIL() << "reboot must not exit the agent"; });
  auto reply = control.Reboot();
  ASSERT_TRUE(reply) << reply.error().message;
  EXPECT_EQ(sys::SysActionReply::Parse(*reply)->action, "reboot");
  EXPECT_FALSE(std::filesystem::exists(marker));
  EXPECT_EQ(control.Reboot().error().code, ErrorCode::kConflict);
  EXPECT_TRUE(RunUntil([&] { return std::filesystem::exists(marker); }));
}

TEST_F(BoardControlTest, AFailedRebootCommandAllowsAnotherTry) {
  const auto marker = dir_ / "second";
  BoardControlOptions options;
  options.action_delay = 10ms;
  options.reboot_command = "test -e '" + (dir_ / "go").string() + "' && touch '" + marker.string() + "'";
  BoardControl control(io_, options, [](int) {});
  ASSERT_TRUE(control.Reboot());
  // The command fails (no "go" file); the board accepts a new request once it has.
  bool accepted_again = false;
  ASSERT_TRUE(RunUntil([&] { return accepted_again || (accepted_again = static_cast<bool>(control.Reboot())); }));
  std::ofstream(dir_ / "go").put('1');
  // The second request ran after "go" existed, or a third one will.
  EXPECT_TRUE(RunUntil([&] {
    if (std::filesystem::exists(marker)) return true;
    (void)control.Reboot();
    return false;
  }));
}

TEST_F(BoardControlTest, LogsAnswersTheRecentLinesBounded) {
  ew::log::KeepRecentLines(50);
  for (int i = 0; i < 60; ++i) ew::log::Get("board-test")->info("line {}", i);
  BoardControlOptions options;
  options.log_capacity = 50;
  BoardControl control(io_, options, [](int) {});
  rpc::Request request;
  request.kwargs = {{"lines", 5}};
  auto reply = control.Logs(request);
  ASSERT_TRUE(reply) << reply.error().message;
  auto logs = sys::LogsReply::Parse(*reply);
  ASSERT_TRUE(logs);
  EXPECT_EQ(logs->capacity, 50);
  ASSERT_EQ(logs->lines.size(), 5u);
  EXPECT_THAT(logs->lines.back(), HasSubstr("line 59"));
  EXPECT_THAT(logs->lines.front(), HasSubstr("line 55"));

  rpc::Request all;  // no kwargs: the default 100, bounded by the ring's 50
  auto every = sys::LogsReply::Parse(*control.Logs(all));
  ASSERT_TRUE(every);
  EXPECT_EQ(every->lines.size(), 50u);

  for (const nlohmann::json& bad : {nlohmann::json{{"lines", 1001}}, nlohmann::json{{"lines", -1}},
                                    nlohmann::json{{"lines", "10"}}, nlohmann::json{{"lnes", 10}},
                                    nlohmann::json::array()}) {
    rpc::Request invalid;
    invalid.kwargs = bad;
    auto refused = control.Logs(invalid);
    ASSERT_FALSE(refused) << bad.dump();
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument) << bad.dump();
  }
}

TEST_F(BoardControlTest, ProceduresAreTheContractsNames) {
  BoardControl control(io_, BoardControlOptions{}, [](int) {});
  std::vector<std::string> names;
  for (const auto& p : control.Procedures()) names.push_back(p.suffix);
  EXPECT_EQ(names, (std::vector<std::string>{"sys.restart", "sys.reboot", "sys.logs", "sys.logs.follow",
                                             "sys.logs.unfollow"}));
}

// Follow mode (issue 16): new lines go out in numbered batches of at most LogBatch::kMaxLines per
// tick while followed; not before, not after unfollow, not after the session ends.
class RecordingConductor final : public rpc::ConductorClient {
 public:
  void Call(const std::string&, rpc::Reply, std::chrono::milliseconds,
            std::function<void(Result<rpc::Reply>)> done) override {
    done(Unavailable("not here"));
  }
  bool Publish(const std::string& topic, const rpc::Reply& payload) override {
    topics.push_back(topic);
    batches.push_back(*sys::LogBatch::Parse(payload));
    return true;
  }
  std::vector<std::string> topics;
  std::vector<sys::LogBatch> batches;
};

// A followed board's options: a ring of 1000 lines, a 5 ms tick.
BoardControlOptions FollowOptions(const std::string& board_id) {
  ew::log::KeepRecentLines(1000);
  BoardControlOptions options;
  options.board_id = board_id;
  options.log_capacity = 1000;
  options.follow_interval = 5ms;
  return options;
}

TEST_F(BoardControlTest, FollowPublishesNewLinesInBoundedNumberedBatches) {
  RecordingConductor conductor;
  BoardControl control(io_, FollowOptions("brd-f"), [](int) {});
  control.SetConductor(&conductor);
  auto logger = ew::log::Get("follow-test");
  logger->warn("before the follow");
  auto followed = control.Follow();
  ASSERT_TRUE(followed) << followed.error().message;
  const int64_t first = sys::LogFollowReply::Parse(*followed)->next_seq;
  for (int i = 0; i < 450; ++i) logger->warn("line {}", i);
  // Lines sent plus lines the ring dropped first (when another test of this process made the
  // ring smaller: the first KeepRecentLines wins).
  auto accounted = [&] {
    size_t n = 0;
    for (const auto& b : conductor.batches) n += b.lines.size() + static_cast<size_t>(b.skipped);
    return n;
  };
  // The "followed" line and the 450.
  ASSERT_TRUE(RunUntil([&] { return accounted() >= 451; }));
  int64_t expected = first;
  int64_t skipped = 0;
  for (const auto& b : conductor.batches) {
    EXPECT_LE(b.lines.size(), sys::LogBatch::kMaxLines);
    EXPECT_EQ(b.first_seq, expected + b.skipped);
    expected = b.first_seq + static_cast<int64_t>(b.lines.size());
    skipped += b.skipped;
  }
  if (skipped == 0) EXPECT_GE(conductor.batches.size(), 3u) << "at most 200 lines per tick";
  EXPECT_EQ(conductor.topics[0], "ew.board.brd-f.sys.log");
  for (const auto& b : conductor.batches) {
    for (const auto& line : b.lines) EXPECT_EQ(line.find("before the follow"), std::string::npos);
  }
  EXPECT_THAT(conductor.batches.back().lines.back(), HasSubstr("line 449"));

  ASSERT_TRUE(control.Unfollow());
  EXPECT_FALSE(control.following());
  const size_t published = conductor.batches.size();
  logger->warn("after the unfollow");
  for (int i = 0; i < 10; ++i) {  // several ticks' worth of loop
    io_.restart();
    io_.run_for(10ms);
  }
  EXPECT_EQ(conductor.batches.size(), published);

  ASSERT_TRUE(control.Follow());
  control.OnDisconnected("gone", 1s);
  EXPECT_FALSE(control.following());
}

// Issue 14 review: a log line can be any length (it may quote untrusted input). Follow batches
// cut long lines to kMaxLogLineBytes and stay within kMaxLogAnswerBytes; lines past that come in
// the next batch, none skipped, so a run of huge lines never makes a batch too large to send
// (before, such a batch was refused by the encoder at every tick and the follow stuck on it).
TEST_F(BoardControlTest, Issue14FollowBatchesCutLongLinesAndStayWithinTheirBytes) {
  RecordingConductor conductor;
  BoardControl control(io_, FollowOptions("brd-long"), [](int) {});
  control.SetConductor(&conductor);
  auto logger = ew::log::Get("long-lines");
  ASSERT_TRUE(control.Follow());
  const std::string huge(20'000, 'x');
  for (int i = 0; i < 150; ++i) logger->warn("huge {} {}", i, huge);
  logger->warn("short after the huge ones");
  auto delivered = [&] {
    for (const auto& b : conductor.batches) {
      for (const auto& line : b.lines) {
        if (line.find("short after the huge ones") != std::string::npos) return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(RunUntil(delivered));
  size_t huge_lines = 0;
  int64_t cut = 0, skipped = 0;
  for (const auto& b : conductor.batches) {
    size_t bytes = 0;
    for (const auto& line : b.lines) {
      EXPECT_LE(line.size(), sys::kMaxLogLineBytes);
      bytes += line.size();
      if (line.find("] huge ") != std::string::npos) {
        ++huge_lines;
        EXPECT_THAT(line, ::testing::EndsWith(sys::kLogCutMarker));
      }
    }
    EXPECT_LE(bytes, sys::kMaxLogAnswerBytes);
    cut += b.cut;
    skipped += b.skipped;
  }
  // Every huge line arrives, cut; lines past a batch's bytes wait for the next one and are never
  // counted as skipped. (Only the ring drops lines: when another test of this process made it
  // smaller than 150, the first KeepRecentLines wins.)
  EXPECT_EQ(huge_lines + static_cast<size_t>(skipped), 150u);
  EXPECT_EQ(cut, static_cast<int64_t>(huge_lines));
  if (skipped == 0) EXPECT_GE(conductor.batches.size(), 3u) << "150 cut lines are ~600 KiB: more than one batch";

  // sys.logs answers within the same bounds, the newest lines kept, and says what it left out.
  rpc::Request request;
  request.kwargs = {{"lines", 1000}};
  auto logs = sys::LogsReply::Parse(*control.Logs(request));
  ASSERT_TRUE(logs);
  size_t bytes = 0;
  for (const auto& line : logs->lines) bytes += line.size();
  EXPECT_LE(bytes, sys::kMaxLogAnswerBytes);
  EXPECT_GT(logs->cut, 0);
  if (skipped == 0) EXPECT_GT(logs->omitted, 0);
  EXPECT_THAT(logs->lines.back(), HasSubstr("short after the huge ones"));
}

TEST_F(BoardControlTest, FollowEndsWhenTheLeaseRunsOut) {
  ew::log::KeepRecentLines(1000);
  RecordingConductor conductor;
  BoardControlOptions options;
  options.log_capacity = 1000;
  options.follow_interval = 5ms;
  options.follow_lease = 30ms;
  BoardControl control(io_, options, [](int) {});
  control.SetConductor(&conductor);
  ASSERT_TRUE(control.Follow());
  EXPECT_TRUE(RunUntil([&] { return !control.following(); }));
  // Without a ring there is nothing to follow.
  BoardControl without(io_, BoardControlOptions{}, [](int) {});
  EXPECT_EQ(without.Follow().error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace ew::agent::board
