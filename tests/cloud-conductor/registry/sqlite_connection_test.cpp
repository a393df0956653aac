// SqliteConnection: the one SQLite wrapper of every conductor store and its error mapping
// (MapSqliteError), on a private in-memory database.
#include "cloud-conductor/registry/sqlite_connection.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>

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

// Statements of this connection that are mid-step (hold a read of the database).
int BusyStatements(SQLite::Database& db) {
  int busy = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db.getHandle(), nullptr); s; s = sqlite3_next_stmt(db.getHandle(), s))
    busy += sqlite3_stmt_busy(s) ? 1 : 0;
  return busy;
}

TEST_F(SqliteConnectionTest, AStatementIsPreparedOnceAndResetWhenItsHandleGoes) {
  Exec("INSERT INTO parents VALUES ('p2', 'two', 2)");
  const std::string sql = "SELECT name FROM parents WHERE n >= ? ORDER BY n";
  SQLite::Statement* first = nullptr;
  auto names = connection_.Run<std::string>("read", [&]() -> Result<std::string> {
    auto q = connection_.Prepared(sql);
    first = &*q;
    q->bind(1, 0);
    EXPECT_TRUE(q->executeStep());  // one row of two: the read is still open
    EXPECT_EQ(BusyStatements(connection_.database()), 1);
    return q->getColumn(0).getString();
  });
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, "one");
  EXPECT_EQ(BusyStatements(connection_.database()), 0) << "reset when the handle went";
  auto again = connection_.Run<bool>("read", [&]() -> Result<bool> {
    auto q = connection_.Prepared(sql);
    EXPECT_EQ(&*q, first) << "the kept statement, not a new one";
    // The bindings were cleared: n >= NULL matches nothing.
    return q->executeStep();
  });
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(SqliteConnectionTest, ATextInUseOrPastTheLimitGetsAStatementOfItsOwn) {
  auto nested = connection_.Run<int>("read", [&]() -> Result<int> {
    const std::string sql = "SELECT count(*) FROM parents WHERE n >= ?";
    auto outer = connection_.Prepared(sql);
    auto inner = connection_.Prepared(sql);
    EXPECT_NE(&*outer, &*inner);
    outer->bind(1, 0);
    inner->bind(1, 5);
    EXPECT_TRUE(outer->executeStep() && inner->executeStep());
    return outer->getColumn(0).getInt() * 10 + inner->getColumn(0).getInt();
  });
  ASSERT_TRUE(nested);
  EXPECT_EQ(*nested, 10);
  auto many = connection_.Run<int>("read", [&]() -> Result<int> {
    int sum = 0;
    for (size_t i = 0; i < SqliteConnection::kMaxCachedStatements + 8; ++i) {
      auto q = connection_.Prepared("SELECT " + std::to_string(i));
      EXPECT_TRUE(q->executeStep());
      sum += q->getColumn(0).getInt();
    }
    return sum;
  });
  ASSERT_TRUE(many);
  const int n = static_cast<int>(SqliteConnection::kMaxCachedStatements + 8);
  EXPECT_EQ(*many, n * (n - 1) / 2);
  EXPECT_EQ(BusyStatements(connection_.database()), 0);
  // A statement that fails to prepare is not kept, and the error is mapped as any other.
  auto statements = [&] {
    int n = 0;
    for (sqlite3_stmt* s = sqlite3_next_stmt(connection_.database().getHandle(), nullptr); s;
         s = sqlite3_next_stmt(connection_.database().getHandle(), s))
      ++n;
    return n;
  };
  const int before = statements();
  auto bad = connection_.Run<bool>("read", [&]() -> Result<bool> { return connection_.Prepared("SELECT nope FROM")->executeStep(); });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInternal);
  EXPECT_EQ(statements(), before);
}

// Issue 14: faults of the store as a whole are Unavailable (REST 503) with the reason.
TEST(SqliteStoreFaultTest, DiskLockAndDamageAreUnavailableWithTheReason) {
  struct Case {
    int code;
    const char* reason;
  };
  for (const Case& c : {Case{SQLITE_FULL, "the disk holding the store is full"},
                        Case{SQLITE_BUSY, "the store is locked by another process"},
                        Case{SQLITE_CORRUPT, "the store file is damaged"},
                        Case{SQLITE_NOTADB, "the store file is damaged"},
                        Case{SQLITE_IOERR, "the disk holding the store failed a read or write"},
                        Case{SQLITE_READONLY, "the store file or its directory cannot be written"}}) {
    const Error error = MapSqliteError(SQLite::Exception("sqlite says no", c.code), "store board");
    EXPECT_EQ(error.code, ErrorCode::kUnavailable) << c.code;
    EXPECT_NE(error.message.find(std::string("store unavailable: ") + c.reason), std::string::npos) << error.message;
    EXPECT_NE(error.message.find("store board: sqlite says no"), std::string::npos) << error.message;
  }
}

// A real lock: another connection holds the write lock past the busy timeout.
TEST(SqliteStoreFaultTest, AWriteLockHeldElsewhereIsUnavailable) {
  const std::string path = ::testing::TempDir() + "/lock-test-" + std::to_string(::getpid()) + ".db";
  std::remove(path.c_str());
  {
    SQLite::Database holder(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    holder.exec("PRAGMA journal_mode = WAL");
    holder.exec("CREATE TABLE t (n INTEGER)");
    SQLite::Database other(path, SQLite::OPEN_READWRITE);
    other.setBusyTimeout(20);
    SqliteConnection connection(std::move(other));
    holder.exec("BEGIN EXCLUSIVE");
    auto write = connection.Run<void>("insert", [&]() -> Result<void> {
      connection.database().exec("INSERT INTO t VALUES (1)");
      return Ok();
    });
    ASSERT_FALSE(write);
    EXPECT_EQ(write.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(write.error().message.find("locked"), std::string::npos) << write.error().message;
    auto read = connection.Run<int64_t>("count", [&]() -> Result<int64_t> {
      return connection.database().execAndGet("SELECT COUNT(*) FROM t").getInt64();
    });
    EXPECT_TRUE(read) << "readers run beside the writer (WAL)";
    holder.exec("ROLLBACK");
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

// The WAL index is memory-mapped: a truncated -shm must be refused before SQLite touches it
// (SIGBUS otherwise), and closing must not checkpoint through it.
TEST(SqliteStoreFaultTest, ATruncatedShmIsRefusedBeforeSqliteTouchesIt) {
  const std::string path = ::testing::TempDir() + "/shm-test-" + std::to_string(::getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("CREATE TABLE t (n INTEGER)");
    SqliteConnection connection(std::move(db));
    auto insert = [&] {
      return connection.Run<void>("insert", [&]() -> Result<void> {
        connection.database().exec("INSERT INTO t VALUES (1)");
        return Ok();
      });
    };
    ASSERT_TRUE(insert());
    ASSERT_EQ(::truncate((path + "-shm").c_str(), 0), 0);
    bool ran = false;
    auto refused = connection.Run<void>("insert", [&]() -> Result<void> {
      ran = true;
      return Ok();
    });
    ASSERT_FALSE(refused);
    EXPECT_FALSE(ran);
    EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(refused.error().message.find("-shm was truncated to 0 bytes"), std::string::npos)
        << refused.error().message;
  }  // closes without a checkpoint: no SIGBUS here
  SQLite::Database reopened(path, SQLite::OPEN_READWRITE);
  EXPECT_EQ(reopened.execAndGet("SELECT COUNT(*) FROM t").getInt(), 1) << "the WAL is replayed";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
}

}  // namespace
}  // namespace ew::registry
