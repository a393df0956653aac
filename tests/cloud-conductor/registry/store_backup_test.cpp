// `edgewire-conductor backup`: SQLite's online backup into a checked copy beside the destination.
#include "cloud-conductor/registry/store_backup.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

namespace ew::registry {
namespace {

namespace fs = std::filesystem;

class StoreBackupTest : public ::testing::Test {
 protected:
  StoreBackupTest() : dir_(fs::path(::testing::TempDir()) / ("backup-test-" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~StoreBackupTest() override { fs::remove_all(dir_); }

  std::string Path(const char* name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(StoreBackupTest, CopiesAWalStoreWhileAConnectionHoldsItOpen) {
  SQLite::Database live(Path("store.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  live.exec("PRAGMA journal_mode = WAL");
  live.exec("CREATE TABLE boards (name TEXT)");
  live.exec("PRAGMA user_version = 7");
  for (int i = 0; i < 500; ++i) live.exec("INSERT INTO boards VALUES ('b" + std::to_string(i) + "')");

  auto report = BackupStore({Path("store.db"), Path("copy.db"), false});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->schema_version, 7);
  EXPECT_GT(report->bytes, 0);
  SQLite::Database copy(Path("copy.db"), SQLite::OPEN_READONLY);
  EXPECT_EQ(copy.execAndGet("SELECT COUNT(*) FROM boards").getInt(), 500);
  EXPECT_EQ(copy.execAndGet("PRAGMA journal_mode").getString(), "delete") << "one self-contained file";
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".backup-tmp"), std::string::npos) << entry.path();
}

TEST_F(StoreBackupTest, RefusesToReplaceWithoutOverwriteAndNamesTheFile) {
  { SQLite::Database db(Path("store.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE); db.exec("CREATE TABLE t (n)"); }
  std::ofstream(Path("copy.db")) << "precious";
  auto refused = BackupStore({Path("store.db"), Path("copy.db"), false});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find(Path("copy.db") + " exists already"), std::string::npos);
  std::ifstream kept(Path("copy.db"));
  std::string text;
  kept >> text;
  EXPECT_EQ(text, "precious");
  EXPECT_TRUE(BackupStore({Path("store.db"), Path("copy.db"), true}));
}

TEST_F(StoreBackupTest, MissingOrDamagedSourceFailsAndCreatesNothing) {
  auto missing = BackupStore({Path("none.db"), Path("copy.db"), false});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(Path("none.db")));
  EXPECT_FALSE(fs::exists(Path("copy.db")));

  std::ofstream(Path("junk.db")) << std::string(8192, 'x');
  auto junk = BackupStore({Path("junk.db"), Path("copy.db"), false});
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message.find("junk.db"), std::string::npos) << junk.error().message;
  EXPECT_FALSE(fs::exists(Path("copy.db")));

  auto no_dir = BackupStore({Path("junk.db"), Path("no/such/copy.db"), false});
  ASSERT_FALSE(no_dir);
  EXPECT_EQ(no_dir.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace ew::registry
