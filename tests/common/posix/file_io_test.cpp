#include "common/posix/file_io.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace ew::posix {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Files in the directory other than `keep`: a failed write must leave no temporary behind.
std::vector<std::string> Others(const fs::path& dir, const std::string& keep) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename() != keep) out.push_back(entry.path().filename().string());
  }
  return out;
}

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ew-posix-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FileIoTest, WritesANewFileWithTheGivenMode) {
  const fs::path path = dir_ / "state.json";
  ::umask(022);
  ASSERT_TRUE(WriteFileAtomically(path, "hello\n", 0640));
  EXPECT_EQ(Slurp(path), "hello\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_TRUE(Others(dir_, "state.json").empty());
}

TEST_F(FileIoTest, ReplacesAnExistingFile) {
  const fs::path path = dir_ / "state.json";
  ASSERT_TRUE(WriteFileAtomically(path, "old contents, longer than the new", 0600));
  ASSERT_TRUE(WriteFileAtomically(path, "new", 0600));
  EXPECT_EQ(Slurp(path), "new");
  EXPECT_TRUE(Others(dir_, "state.json").empty());
}

TEST_F(FileIoTest, MissingDirectoryIsNotFoundAndNamesThePath) {
  const fs::path path = dir_ / "missing" / "state.json";
  auto written = WriteFileAtomically(path, "x", 0600);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, ErrorCode::kNotFound);
  EXPECT_NE(written.error().message.find(path.string()), std::string::npos) << written.error().message;
  EXPECT_FALSE(fs::exists(dir_ / "missing"));
}

TEST_F(FileIoTest, ReadOnlyDirectoryIsPermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  fs::permissions(dir_, fs::perms(0500));
  auto written = WriteFileAtomically(dir_ / "state.json", "x", 0600);
  fs::permissions(dir_, fs::perms(0700));
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(FileIoTest, FailedRenameKeepsTheTargetAndRemovesTheTemporary) {
  // rename(2) of a file over a non-empty directory fails (EISDIR) after the data was written.
  const fs::path path = dir_ / "target";
  fs::create_directories(path);
  std::ofstream(path / "old") << "old contents";
  auto written = WriteFileAtomically(path, "new contents", 0600);
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().message.find("rename"), std::string::npos) << written.error().message;
  EXPECT_EQ(Slurp(path / "old"), "old contents");
  EXPECT_TRUE(Others(dir_, "target").empty());
}

TEST_F(FileIoTest, WriteFailingMidwayKeepsTheOldContents) {
  // A file size limit makes write(2) fail with EFBIG part way through the new contents: a real
  // short write, as a full disk would give.
  const fs::path path = dir_ / "state.json";
  ASSERT_TRUE(WriteFileAtomically(path, "old", 0600));
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 1024;
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto written = WriteFileAtomically(path, std::string(64 * 1024, 'n'), 0600);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, ErrorCode::kResourceExhausted) << written.error().message;
  EXPECT_EQ(Slurp(path), "old");
  EXPECT_TRUE(Others(dir_, "state.json").empty());
}

TEST_F(FileIoTest, SyncDirectoryReportsAMissingDirectory) {
  EXPECT_TRUE(SyncDirectory(dir_));
  auto synced = SyncDirectory(dir_ / "missing");
  ASSERT_FALSE(synced);
  EXPECT_EQ(synced.error().code, ErrorCode::kNotFound);
}

TEST_F(FileIoTest, ReadFileLimitedReadsUpToTheLimit) {
  const fs::path path = dir_ / "data";
  std::ofstream(path) << "0123456789";
  auto exact = ReadFileLimited(path, 10);
  ASSERT_TRUE(exact) << exact.error().message;
  EXPECT_EQ(*exact, "0123456789");
  auto over = ReadFileLimited(path, 9);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(over.error().message.find(path.string()), std::string::npos);
}

TEST_F(FileIoTest, ReadFileLimitedBoundsFilesThatReportNoSize) {
  // /proc files say size 0 and then deliver bytes: the limit still holds while reading.
  auto small = ReadFileLimited("/proc/self/status", 8);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code, ErrorCode::kResourceExhausted);
  auto whole = ReadFileLimited("/proc/self/status", 1 << 20);
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_NE(whole->find("Pid:"), std::string::npos);
}

TEST_F(FileIoTest, ReadFileLimitedErrors) {
  auto missing = ReadFileLimited(dir_ / "missing", 10);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto directory = ReadFileLimited(dir_, 10);
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace ew::posix
