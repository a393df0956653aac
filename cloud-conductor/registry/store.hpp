// The conductor's registry behind one interface: SqliteStore (default, zero set-up) and, for
// several conductors, a PostgreSQL store. Methods are blocking and thread-safe: callers run
// them on the blocking pool, never on a network strand. No method changes state when it
// returns an error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cloud-conductor/registry/page.hpp"
#include "common/error/error.hpp"
#include "edgewire/v1/registry.pb.h"

namespace ew::registry {

using edgewire::v1::ApiToken;
using edgewire::v1::Board;
using edgewire::v1::BoardCredential;
using edgewire::v1::Project;
using edgewire::v1::User;

// A named group of boards of one project (deploy targets, operators' grouping).
struct Fleet {
  std::string id;           // "flt-…"
  std::string project_id;
  std::string name;
  int64_t created_at = 0;
  std::vector<std::string> board_ids;  // sorted
};

class Store {
 public:
  virtual ~Store() = default;

  // Projects. Names are unique: Conflict on a duplicate. DeleteProject: Conflict while the
  // project still has users or boards; NotFound when absent.
  virtual Result<void> CreateProject(const Project& project) = 0;
  virtual Result<Project> GetProject(const std::string& id) = 0;
  // Ordered by name, one page (page.hpp); InvalidArgument for a bad limit or cursor.
  virtual Result<Page<Project>> ListProjects(const PageRequest& page) = 0;
  virtual Result<void> DeleteProject(const std::string& id) = 0;

  // Users. Names are unique across the conductor (Conflict). The password hash is stored
  // beside the record and only ever read back by GetPasswordHash.
  virtual Result<void> CreateUser(const User& user, const std::string& password_hash) = 0;
  virtual Result<User> GetUser(const std::string& id) = 0;
  virtual Result<User> GetUserByName(const std::string& name) = 0;
  // project_id "" lists every user. Ordered by name, one page.
  virtual Result<Page<User>> ListUsers(const std::string& project_id, const PageRequest& page) = 0;
  virtual Result<void> DeleteUser(const std::string& id) = 0;  // also deletes the user's tokens
  virtual Result<std::string> GetPasswordHash(const std::string& user_id) = 0;
  virtual Result<int64_t> CountUsers() = 0;

  // API tokens, looked up by the SHA-256 hex of the token text.
  virtual Result<void> CreateToken(const ApiToken& token, const std::string& token_sha256) = 0;
  // NotFound for unknown or expired (0 < expires_at <= now) tokens; expires_at 0 = never.
  virtual Result<ApiToken> FindToken(const std::string& token_sha256, int64_t now) = 0;
  virtual Result<void> DeleteToken(const std::string& id) = 0;

  // Boards. Names are unique within a project (Conflict). CreateBoard stores the SHA-256 of the
  // one-time enrolment code and its expiry.
  virtual Result<void> CreateBoard(const Board& board, const std::string& code_sha256, int64_t code_expires_at) = 0;
  virtual Result<Board> GetBoard(const std::string& id) = 0;
  // project_id "" lists every board. Ordered by project, then name; one page.
  virtual Result<Page<Board>> ListBoards(const std::string& project_id, const PageRequest& page) = 0;
  virtual Result<void> DeleteBoard(const std::string& id) = 0;  // also its credential
  // Consumes a one-time code atomically: stores `credential` for the code's board, sets
  // enrolled_at = now, and forgets the code. NotFound for an unknown or already used code,
  // DeadlineExceeded for an expired one (which stays unused). Returns the board.
  virtual Result<Board> ConsumeEnrolmentCode(const std::string& code_sha256, int64_t now,
                                             const BoardCredential& credential) = 0;
  // NotFound when the board does not exist or is not enrolled.
  virtual Result<BoardCredential> GetBoardCredential(const std::string& board_id) = 0;
  virtual Result<void> TouchBoard(const std::string& board_id, int64_t last_seen) = 0;
  // TouchBoard for many boards at once (boards that no longer exist are skipped): one
  // transaction where the store has them, for a herd of boards rejoining after a restart.
  virtual Result<void> TouchBoards(const std::vector<std::string>& board_ids, int64_t last_seen) {
    for (const auto& id : board_ids) {
      if (auto touched = TouchBoard(id, last_seen); !touched && touched.error().code != ErrorCode::kNotFound)
        return touched;
    }
    return Ok();
  }

  // Fleets. Names are unique within a project (Conflict); NotFound for a project, fleet or board
  // that does not exist. A deleted board leaves every fleet it was in.
  virtual Result<void> CreateFleet(const Fleet& fleet) = 0;
  virtual Result<Fleet> GetFleet(const std::string& id) = 0;
  // Ordered by name (then id), one page; project_id "" = every project.
  virtual Result<Page<Fleet>> ListFleets(const std::string& project_id, const PageRequest& page) = 0;
  virtual Result<void> DeleteFleet(const std::string& id) = 0;
  // Adding a member twice is adding it once.
  virtual Result<void> AddFleetBoard(const std::string& fleet_id, const std::string& board_id) = 0;
  // NotFound when the board is not in the fleet.
  virtual Result<void> RemoveFleetBoard(const std::string& fleet_id, const std::string& board_id) = 0;
};

// Opens (creating if needed) a SQLite store at `path` (":memory:" for tests), in WAL mode,
// applying pending migrations. Internal on an unreadable file or a failed migration.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace ew::registry
