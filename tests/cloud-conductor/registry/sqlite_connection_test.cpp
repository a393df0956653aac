// SqliteConnection: the one SQLite wrapper of every conductor store and its error mapping
// (MapSqliteError), on a private in-memory database.
#include "cloud-conductor/registry/sqlite_connection.hpp"

#include <stdexcept>

#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

namespace ew::registry {
namespace {

class SqliteConnectionTest : public ::testing::Test {
 protected:
  SqliteConnectionTest() : connection_(OpenSqliteDatabase(":memory:")) {
    auto& db = connection_.database();
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("CREATE TABLE parents (id TEXT PRIMARY KEY NOT NULL, name TEXT UNIQUE, n INTEGER CHECK (n >= 0))");
    db.exec("CREATE TABLE children (id TEXT PRIMARY KEY, parent TEXT NOT NULL REFERENCES parents(id))");
    db.exec("INSERT INTO parents VALUES ('p1', 'one', 1)");
  }

  Result<void> Exec(const std::string& sql, const SqliteConstraints& constraints = {}) {
    return connection_.Run<void>("test write", constraints, [&]() -> Result<void> {
      connection_.database().exec(sql);
      return Ok();
    });
  }

  SqliteConnection connection_;
};

TEST_F(SqliteConnectionTest, ConstraintFailuresHaveDefaultsAndPerCallErrors) {
  auto orphan = Exec("INSERT INTO children VALUES ('c1', 'p-none')");
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(orphan.error().message, "test write: a record it names does not exist");
  SqliteConstraints own{{{"parents.name", Error{ErrorCode::kConflict, "a parent named one exists"}}},
                        Error{ErrorCode::kNotFound, "no such parent"}};
  EXPECT_EQ(Exec("INSERT INTO children VALUES ('c1', 'p-none')", own).error().message, "no such parent");
  EXPECT_EQ(Exec("INSERT INTO parents VALUES ('p2', 'one', 1)", own).error().message, "a parent named one exists");
  auto duplicate = Exec("INSERT INTO parents VALUES ('p1', 'two', 1)", own);
  EXPECT_EQ(duplicate.error().code, ErrorCode::kConflict);
  EXPECT_EQ(duplicate.error().message, "test write: already exists") << "columns not in the call's list";
  EXPECT_EQ(Exec("INSERT INTO parents VALUES ('p3', 'three', -1)").error().code, ErrorCode::kConflict) << "CHECK";
}

TEST_F(SqliteConnectionTest, OtherFailuresAreInternalAndNothingEscapes) {
  auto bad_sql = Exec("INSERT INTO nowhere VALUES (1)");
  ASSERT_FALSE(bad_sql);
  EXPECT_EQ(bad_sql.error().code, ErrorCode::kInternal);
  EXPECT_NE(bad_sql.error().message.find("test write failed: "), std::string::npos) << bad_sql.error().message;
  auto thrown = connection_.Run<int>("test read", []() -> Result<int> { throw std::runtime_error("bad row"); });
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().code, ErrorCode::kInternal);
  EXPECT_EQ(thrown.error().message, "test read failed: bad row");
  auto value = connection_.Run<int64_t>("count", [&]() -> Result<int64_t> {
    return connection_.database().execAndGet("SELECT COUNT(*) FROM parents").getInt64();
  });
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, 1) << "no failed write changed anything";
}

}  // namespace
}  // namespace ew::registry
