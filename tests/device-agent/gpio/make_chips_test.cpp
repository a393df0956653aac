// MakeChips: the chips the config asks for, in order; a chip that cannot be opened is listed as
// broken and the others still work; sim chips get their control sockets.
#include "device-agent/gpio/make_chips.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ew::agent::gpio {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ew-chips-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

TEST(MakeChipsTest, TheDefaultIsOneSimulatedRaspberryPi) {
  BoardChips board = MakeChips(config::AgentConfig{});
  auto chips = board.chips.Chips();
  ASSERT_EQ(chips.size(), 1u);
  EXPECT_EQ(chips[0].chip->Name(), "sim0");
  EXPECT_EQ(chips[0].backend, "sim");
  EXPECT_EQ(chips[0].chip->Lines().size(), 28u);
  EXPECT_TRUE(board.chips.BrokenChips().empty());
  EXPECT_TRUE(board.sim_controls.empty());
  auto line = board.chips.Resolve("GPIO17");
  ASSERT_TRUE(line) << line.error().message;
  EXPECT_EQ(line->offset, 17u);
}

TEST(MakeChipsTest, AChipThatCannotBeOpenedIsListedBrokenAndTheOthersWork) {
  config::AgentConfig config;
  config.gpio_chips = {
      {"gpiochip0", "libgpiod", "/dev/ew-test-no-such-gpiochip", {}, ""},
      {"panel", "sim", "", {"LED", "BUTTON"}, ""},
  };
  BoardChips board = MakeChips(config);
  ASSERT_EQ(board.chips.BrokenChips().size(), 1u);
  const auto& broken = board.chips.BrokenChips()[0];
  EXPECT_EQ(broken.name, "gpiochip0");
  EXPECT_EQ(broken.backend, "libgpiod");
  EXPECT_THAT(broken.error, HasSubstr("/dev/ew-test-no-such-gpiochip"));
  EXPECT_EQ(board.chips.Find("gpiochip0"), nullptr);

  auto chips = board.chips.Chips();
  ASSERT_EQ(chips.size(), 1u);
  EXPECT_EQ(chips[0].chip->Name(), "panel");
  auto button = board.chips.Resolve("BUTTON");
  ASSERT_TRUE(button) << button.error().message;
  EXPECT_EQ(button->offset, 1u);
  EXPECT_EQ(board.chips.Resolve("gpiochip0:3").error().code, ErrorCode::kNotFound);
}

TEST(MakeChipsTest, ABackendOfLibgpiodWithoutChipsOpensDevGpiochip0) {
  config::AgentConfig config;
  config.gpio_backend = "libgpiod";
  BoardChips board = MakeChips(config);
  if (fs::exists("/dev/gpiochip0")) GTEST_SKIP() << "this machine has a /dev/gpiochip0";
  ASSERT_EQ(board.chips.BrokenChips().size(), 1u);
  EXPECT_EQ(board.chips.BrokenChips()[0].name, "gpiochip0");
  EXPECT_THAT(board.chips.BrokenChips()[0].error, HasSubstr("/dev/gpiochip0"));
  EXPECT_TRUE(board.chips.empty());
}

TEST(MakeChipsTest, SimChipsServeTheirControlSocketsUntilTheBoardGoes) {
  TempDir dir;
  const std::string socket = dir.Path("sim0.sock");
  config::AgentConfig config;
  config.gpio_chips = {{"sim0", "sim", "", {}, socket}, {"sim1", "sim", "", {"A"}, ""}};
  {
    BoardChips board = MakeChips(config);
    ASSERT_EQ(board.sim_controls.size(), 1u);
    EXPECT_EQ(board.sim_controls[0]->SocketPath(), socket);
    EXPECT_EQ(&board.sim_controls[0]->Chip(), static_cast<void*>(board.chips.Find("sim0")));
    auto answer = SimControlCall(socket, {{"op", "drive"}, {"line", "GPIO4"}, {"value", 1}}, 5s);
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ((*answer)["value"], 1);
    EXPECT_EQ(*board.chips.Find("sim0")->Read(4), 1);
    // Moving the board keeps the controls on their chips.
    BoardChips moved = std::move(board);
    EXPECT_EQ((*SimControlCall(socket, {{"op", "read"}, {"line", "GPIO4"}}, 5s))["value"], 1);
  }
  EXPECT_FALSE(fs::exists(socket));
}

TEST(MakeChipsTest, AControlSocketThatCannotStartLeavesItsChipWorking) {
  TempDir dir;
  const std::string taken = dir.Path("not-a-socket");
  std::ofstream(taken) << "a file";
  config::AgentConfig config;
  config.gpio_chips = {{"sim0", "sim", "", {}, taken}};
  BoardChips board = MakeChips(config);
  EXPECT_TRUE(board.sim_controls.empty());
  ASSERT_NE(board.chips.Find("sim0"), nullptr);
  EXPECT_TRUE(board.chips.BrokenChips().empty());
  EXPECT_TRUE(fs::is_regular_file(taken));
}

}  // namespace
}  // namespace ew::agent::gpio
