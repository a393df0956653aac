// CommandFixture: runs one CLI command against a FakeConductor with a fresh Context, a ManualClock
// that pauses advance (so `--wait` loops take no real time), and captured stdout/stderr.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "cloud-conductor/cli/commands.hpp"
#include "common/clock/clock.hpp"
#include "tests/cloud-conductor/cli/fake_conductor.hpp"

namespace ew::cli::testing {

class CommandFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("ew-cli-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // No saved login of the machine's user is read: the token is given.
    ::setenv("XDG_CONFIG_HOME", (dir_ / "config").c_str(), 1);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Result<void> Run(const std::function<Result<void>(Context&)>& command, bool json = false) {
    std::ostringstream out, err;
    std::istringstream in(stdin_);
    Context ctx(GlobalOptions{fake_.url(), "ewt_test", json}, out, in, err);
    ctx.set_clock(&clock_, [this](std::chrono::milliseconds d) {
      clock_.Advance(d);
      waited_ += d;
    });
    auto init = ctx.Init();
    EXPECT_TRUE(init) << init.error().message;
    Result<void> result = command(ctx);
    out_ = out.str();
    err_ = err.str();
    exit_code_ = ctx.exit_code();
    return result;
  }

  FakeConductor fake_;  // first, so that it outlives every Context's connection
  ManualClock clock_;
  std::filesystem::path dir_;
  std::string stdin_;
  std::string out_, err_;
  int exit_code_ = 0;
  std::chrono::milliseconds waited_{0};
};

}  // namespace ew::cli::testing
