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

// v10 rebuilds tunnel_services so that conductor_port may be NULL (connect-only services): a v9
// database keeps its services and their ports, ports stay unique, NULLs do not collide, and the
// board's cascade still takes its services along.
TEST(MigrationsTest, V10KeepsServicesAndLetsConductorPortBeNull) {
  auto db = MemoryDb();
  db.exec("PRAGMA foreign_keys = ON");
  const auto& all = RegistryMigrations();
  ASSERT_GE(all.size(), 10u);
  const std::vector<Migration> up_to_v9(all.begin(), all.begin() + 9);
  ASSERT_TRUE(ApplyMigrations(db, up_to_v9));
  db.exec("INSERT INTO projects VALUES ('prj-a', 'a', 1)");
  db.exec("INSERT INTO boards (id, name, project_id, created_at) VALUES ('brd-a', 'a', 'prj-a', 1)");
  db.exec("INSERT INTO tunnel_services VALUES ('svc-1', 'prj-a', 'brd-a', 22, 20001, 5, '10.0.0.0/8', 7)");
  // Before v10 a NULL port is refused.
  EXPECT_THROW(db.exec("INSERT INTO tunnel_services (id, project_id, board_id, board_port, conductor_port, "
                       "created_at) VALUES ('svc-x', 'prj-a', 'brd-a', 22, NULL, 8)"),
               SQLite::Exception);

  auto report = ApplyMigrations(db);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->from_version, 9);
  EXPECT_EQ(report->applied, static_cast<int>(all.size()) - 9);
  SQLite::Statement kept(db, "SELECT board_port, conductor_port, max_connections, allow_cidrs, created_at "
                             "FROM tunnel_services WHERE id = 'svc-1'");
  ASSERT_TRUE(kept.executeStep());
  EXPECT_EQ(kept.getColumn(0).getInt(), 22);
  EXPECT_EQ(kept.getColumn(1).getInt(), 20001);
  EXPECT_EQ(kept.getColumn(2).getInt(), 5);
  EXPECT_EQ(kept.getColumn(3).getString(), "10.0.0.0/8");
  EXPECT_EQ(kept.getColumn(4).getInt(), 7);
  kept.reset();

  // Two connect-only services (NULL ports) side by side; a taken port is still refused.
  db.exec("INSERT INTO tunnel_services (id, project_id, board_id, board_port, conductor_port, created_at) "
          "VALUES ('svc-2', 'prj-a', 'brd-a', 80, NULL, 8)");
  db.exec("INSERT INTO tunnel_services (id, project_id, board_id, board_port, conductor_port, created_at) "
          "VALUES ('svc-3', 'prj-a', 'brd-a', 81, NULL, 9)");
  try {
    db.exec("INSERT INTO tunnel_services (id, project_id, board_id, board_port, conductor_port, created_at) "
            "VALUES ('svc-4', 'prj-a', 'brd-a', 82, 20001, 10)");
    ADD_FAILURE() << "a second service got conductor port 20001";
  } catch (const SQLite::Exception& e) {
    // The text ServiceStore maps to Conflict names the renamed table.
    EXPECT_THAT(e.what(), HasSubstr("tunnel_services.conductor_port"));
  }
  EXPECT_TRUE(db.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE name = 'tunnel_services_by_project'").getInt());
  EXPECT_FALSE(HasTable(db, "tunnel_services_v10"));
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM tunnel_services").getInt(), 3);
  // Still a child of boards: deleting the board takes its services along.
  db.exec("DELETE FROM boards WHERE id = 'brd-a'");
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM tunnel_services").getInt(), 0);
}

}  // namespace
}  // namespace ew::registry
