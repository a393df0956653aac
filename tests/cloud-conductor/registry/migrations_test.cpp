// Versioned migrations: applied once each, in order, each in its own transaction; a database newer
// than the code is refused.
#include "cloud-conductor/registry/migrations.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>

#include <SQLiteCpp/Statement.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ew::registry {
namespace {

using ::testing::HasSubstr;

// A private directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ew-migrations-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

SQLite::Database MemoryDb() { return SQLite::Database(":memory:", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE); }

bool HasTable(SQLite::Database& db, const std::string& name) { return db.tableExists(name); }

int UserVersion(SQLite::Database& db) { return db.execAndGet("PRAGMA user_version").getInt(); }

const std::vector<Migration> kTwoSteps = {
    {1, "create a", "CREATE TABLE a (x INTEGER);"},
    {2, "create b", "CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (7);"},
};

TEST(MigrationsTest, RegistryListIsOrderedFromOne) {
  const auto& migrations = RegistryMigrations();
  ASSERT_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1);
    EXPECT_FALSE(migrations[i].description.empty());
    EXPECT_FALSE(migrations[i].sql.empty());
  }
}

TEST(MigrationsTest, FreshDatabaseGetsEverySchemaTable) {
  auto db = MemoryDb();
  auto report = ApplyMigrations(db);
  ASSERT_TRUE(report) << report.error().message;
  const int latest = static_cast<int>(RegistryMigrations().size());
  EXPECT_EQ(report->from_version, 0);
  EXPECT_EQ(report->to_version, latest);
  EXPECT_EQ(report->applied, latest);
  EXPECT_EQ(UserVersion(db), latest);
  for (const char* table : {"projects", "users", "api_tokens", "boards", "enrolment_codes", "board_credentials"}) {
    EXPECT_TRUE(HasTable(db, table)) << table;
  }
}

TEST(MigrationsTest, SecondRunAppliesNothing) {
  auto db = MemoryDb();
  ASSERT_TRUE(ApplyMigrations(db, kTwoSteps));
  auto again = ApplyMigrations(db, kTwoSteps);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->from_version, 2);
  EXPECT_EQ(again->to_version, 2);
  EXPECT_EQ(again->applied, 0);
  // The INSERT of step 2 ran once.
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM b").getInt(), 1);
}

TEST(MigrationsTest, OnlyNewStepsRunOnAnOlderDatabase) {
  auto db = MemoryDb();
  const std::vector<Migration> first_only(kTwoSteps.begin(), kTwoSteps.begin() + 1);
  ASSERT_TRUE(ApplyMigrations(db, first_only));
  EXPECT_EQ(UserVersion(db), 1);
  EXPECT_FALSE(HasTable(db, "b"));

  auto report = ApplyMigrations(db, kTwoSteps);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->from_version, 1);
  EXPECT_EQ(report->to_version, 2);
  EXPECT_EQ(report->applied, 1);
  EXPECT_TRUE(HasTable(db, "b"));
}

TEST(MigrationsTest, FailedStepIsRolledBackAndEarlierStepsStay) {
  auto db = MemoryDb();
  const std::vector<Migration> broken = {
      kTwoSteps[0],
      {2, "half-broken step", "CREATE TABLE c (z INTEGER); INSERT INTO no_such_table VALUES (1);"},
  };
  auto report = ApplyMigrations(db, broken);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kInternal);
  EXPECT_THAT(report.error().message, HasSubstr("migration v2 (half-broken step) failed"));
  EXPECT_EQ(UserVersion(db), 1);
  EXPECT_TRUE(HasTable(db, "a"));
  EXPECT_FALSE(HasTable(db, "c"));  // the part of step 2 that succeeded was rolled back
}

TEST(MigrationsTest, NewerDatabaseIsRefused) {
  auto db = MemoryDb();
  db.exec("PRAGMA user_version = 5");
  auto report = ApplyMigrations(db, kTwoSteps);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kInternal);
  EXPECT_EQ(report.error().message, "database schema v5 is newer than this conductor (v2)");
  EXPECT_FALSE(HasTable(db, "a"));
}

TEST(MigrationsTest, MalformedListIsRefused) {
  auto db = MemoryDb();
  const std::vector<Migration> gap = {kTwoSteps[0], {3, "skips 2", "CREATE TABLE d (w INTEGER);"}};
  auto report = ApplyMigrations(db, gap);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kInternal);
  EXPECT_THAT(report.error().message, HasSubstr("malformed"));
  EXPECT_EQ(UserVersion(db), 0);
}

TEST(MigrationsTest, FileKeepsItsVersionAcrossReopen) {
  TempDir dir;
  const std::string path = dir.File("registry.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    auto report = ApplyMigrations(db);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_GT(report->applied, 0);
  }
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  auto version = SchemaVersion(db);
  ASSERT_TRUE(version);
  EXPECT_EQ(*version, static_cast<int>(RegistryMigrations().size()));
  auto report = ApplyMigrations(db);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->applied, 0);
}

}  // namespace
}  // namespace ew::registry
