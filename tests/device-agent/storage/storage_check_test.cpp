// StorageCheck: which of the agent's directories cannot be written, and why.
#include "device-agent/storage/storage_check.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace ew::agent::storage {
namespace {

namespace fs = std::filesystem;

class StorageCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ew-storage-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(StorageCheckTest, WritableDirectoriesHaveNoProblemAndKeepNoProbe) {
  EXPECT_EQ(ProbeWritable(dir_ / "spool"), "");
  EXPECT_TRUE(fs::is_directory(dir_ / "spool")) << "created like the services would";
  EXPECT_TRUE(fs::is_empty(dir_ / "spool"));
  StorageCheck check({{"spool", dir_ / "spool"}, {"flows", dir_ / "flows"}});
  EXPECT_TRUE(check.Check().empty());
}

TEST_F(StorageCheckTest, AnUnusableDirectoryIsNamedWithTheReasonUntilItIsFixed) {
  std::ofstream(dir_ / "blocked") << "a file where a directory should be";
  StorageCheck check({{"spool ([spool] dir)", dir_ / "blocked" / "spool"}, {"flows", dir_ / "flows"}});
  auto problems = check.Check();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].rfind("spool ([spool] dir) " + (dir_ / "blocked" / "spool").string() + ": ", 0), 0u)
      << problems[0];
  EXPECT_EQ(check.Check(), problems) << "stable while nothing changes";
  fs::remove(dir_ / "blocked");
  EXPECT_TRUE(check.Check().empty()) << "usable again once the file is gone";
}

}  // namespace
}  // namespace ew::agent::storage
