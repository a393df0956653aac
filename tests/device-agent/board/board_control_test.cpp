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
  EXPECT_EQ(names, (std::vector<std::string>{"sys.restart", "sys.reboot", "sys.logs"}));
}

}  // namespace
}  // namespace ew::agent::board
