// The default registry: one SQLite file (WAL, synchronous=NORMAL, foreign keys on) behind the Store
// interface. Zero set-up; ":memory:" gives tests a private, throwaway database.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <SQLiteCpp/Database.h>

#include "cloud-conductor/registry/sqlite_connection.hpp"
#include "cloud-conductor/registry/store.hpp"

namespace ew::registry {

// Thread-safe: every method runs in its SqliteConnection's Run, so calls from the blocking pool
// are serialised on the one connection. Errors (mapped by MapSqliteError), on top of store.hpp's
// contract:
//  - InvalidArgument for an empty id or name, a board without a project, an empty enrolment code;
//  - NotFound when a record names a parent that does not exist (a user's or board's project, a
//    token's user), naming it;
//  - Internal for any other SQLite failure (logged at error: the operator must look at the disk).
// Lists are ordered: projects and users by name, boards by project then name.
// TouchBoard never moves last_seen backwards (pool threads may finish out of order).
class SqliteStore : public Store {
 public:
  // Use OpenSqliteStore: it also sets the pragmas and applies migrations.
  explicit SqliteStore(SQLite::Database db);
  ~SqliteStore() override;

  Result<void> CreateProject(const Project& project) override;
  Result<Project> GetProject(const std::string& id) override;
  Result<Page<Project>> ListProjects(const PageRequest& page) override;
  Result<void> DeleteProject(const std::string& id) override;

  Result<void> CreateUser(const User& user, const std::string& password_hash) override;
  Result<User> GetUser(const std::string& id) override;
  Result<User> GetUserByName(const std::string& name) override;
  Result<Page<User>> ListUsers(const std::string& project_id, const PageRequest& page) override;
  Result<void> DeleteUser(const std::string& id) override;
  Result<std::string> GetPasswordHash(const std::string& user_id) override;
  Result<int64_t> CountUsers() override;

  Result<void> CreateToken(const ApiToken& token, const std::string& token_sha256) override;
  Result<ApiToken> FindToken(const std::string& token_sha256, int64_t now) override;
  Result<void> DeleteToken(const std::string& id) override;

  Result<void> CreateBoard(const Board& board, const std::string& code_sha256, int64_t code_expires_at) override;
  Result<Board> GetBoard(const std::string& id) override;
  Result<Page<Board>> ListBoards(const std::string& project_id, const PageRequest& page) override;
  Result<void> DeleteBoard(const std::string& id) override;
  Result<Board> ConsumeEnrolmentCode(const std::string& code_sha256, int64_t now,
                                     const BoardCredential& credential) override;
  Result<BoardCredential> GetBoardCredential(const std::string& board_id) override;
  Result<void> TouchBoard(const std::string& board_id, int64_t last_seen) override;
  Result<void> TouchBoards(const std::vector<std::string>& board_ids, int64_t last_seen) override;

  Result<void> CreateFleet(const Fleet& fleet) override;
  Result<Fleet> GetFleet(const std::string& id) override;
  Result<Page<Fleet>> ListFleets(const std::string& project_id, const PageRequest& page) override;
  Result<void> DeleteFleet(const std::string& id) override;
  Result<void> AddFleetBoard(const std::string& fleet_id, const std::string& board_id) override;
  Result<void> RemoveFleetBoard(const std::string& fleet_id, const std::string& board_id) override;

 private:
  SqliteConnection connection_;  // every method runs its statements in connection_.Run
  SQLite::Database& db_;         // connection_'s database: inside connection_.Run only
};

}  // namespace ew::registry
