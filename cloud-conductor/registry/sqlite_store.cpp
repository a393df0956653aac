// SqliteStore: the Store contract on one SQLite connection. Every statement is prepared with bound
// parameters; multi-statement writes run in one IMMEDIATE transaction so an error changes nothing.
#include "cloud-conductor/registry/sqlite_store.hpp"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include "cloud-conductor/registry/migrations.hpp"
#include "common/log/log.hpp"

namespace ew::registry {

namespace {

const ew::log::Logger Log{"store"};

Error ConflictError(std::string message) { return Error{ErrorCode::kConflict, std::move(message)}; }
Error NotFoundError(std::string message) { return Error{ErrorCode::kNotFound, std::move(message)}; }

// Labels are a JSON object of strings; nlohmann::json keeps keys sorted, so the text is stable.
std::string LabelsToJson(const Board& board) {
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [key, value] : board.labels()) labels[key] = value;
  return labels.dump();
}

// Throws (and the caller maps to Internal) when the stored text is not an object of strings.
void LabelsFromJson(const std::string& text, Board& board) {
  const nlohmann::json labels = nlohmann::json::parse(text);
  if (!labels.is_object()) throw std::runtime_error("labels of board " + board.id() + " are not a JSON object");
  auto& out = *board.mutable_labels();
  for (const auto& [key, value] : labels.items()) out[key] = value.get<std::string>();
}

// SELECT heads whose column order the Read* functions below rely on, joined to each query as
// string literals at compile time: every statement is a fixed text with bound parameters.
#define EW_SELECT_PROJECT "SELECT id, name, created_at "
#define EW_SELECT_USER "SELECT id, name, COALESCE(project_id, ''), role, created_at "
#define EW_SELECT_TOKEN "SELECT id, user_id, created_at, expires_at "
#define EW_SELECT_BOARD "SELECT id, name, project_id, created_at, enrolled_at, last_seen, labels "

Project ReadProject(const SQLite::Statement& row) {
  Project project;
  project.set_id(row.getColumn(0).getString());
  project.set_name(row.getColumn(1).getString());
  project.set_created_at(row.getColumn(2).getInt64());
  return project;
}

User ReadUser(const SQLite::Statement& row) {
  User user;
  user.set_id(row.getColumn(0).getString());
  user.set_name(row.getColumn(1).getString());
  user.set_project_id(row.getColumn(2).getString());
  user.set_role(row.getColumn(3).getString());
  user.set_created_at(row.getColumn(4).getInt64());
  return user;
}

ApiToken ReadToken(const SQLite::Statement& row) {
  ApiToken token;
  token.set_id(row.getColumn(0).getString());
  token.set_user_id(row.getColumn(1).getString());
  token.set_created_at(row.getColumn(2).getInt64());
  token.set_expires_at(row.getColumn(3).getInt64());
  return token;
}

// status and session_peer stay empty: they are live state the conductor fills in.
Board ReadBoard(const SQLite::Statement& row) {
  Board board;
  board.set_id(row.getColumn(0).getString());
  board.set_name(row.getColumn(1).getString());
  board.set_project_id(row.getColumn(2).getString());
  board.set_created_at(row.getColumn(3).getInt64());
  board.set_enrolled_at(row.getColumn(4).getInt64());
  board.set_last_seen(row.getColumn(5).getInt64());
  LabelsFromJson(row.getColumn(6).getString(), board);
  return board;
}

// Reads one board inside the caller's lock (and transaction, if any).
std::optional<Board> FindBoard(SqliteConnection& connection, const std::string& id) {
  auto query = connection.Prepared(EW_SELECT_BOARD "FROM boards WHERE id = ?");
  query->bind(1, id);
  if (!query->executeStep()) return std::nullopt;
  return ReadBoard(*query);
}

bool Exists(SQLite::Database& db, const char* sql, const std::string& key) {
  SQLite::Statement query(db, sql);
  query.bind(1, key);
  return query.executeStep();
}

int64_t CountWhere(SQLite::Database& db, const char* sql, const std::string& key) {
  SQLite::Statement query(db, sql);
  query.bind(1, key);
  query.executeStep();
  return query.getColumn(0).getInt64();
}

std::string Plural(int64_t n, std::string_view noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

std::vector<std::string> FleetBoards(SQLite::Database& db, const std::string& fleet_id) {
  SQLite::Statement q(db, "SELECT board_id FROM fleet_boards WHERE fleet_id = ? ORDER BY board_id");
  q.bind(1, fleet_id);
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}


}  // namespace

SqliteStore::SqliteStore(SQLite::Database db) : connection_(std::move(db)), db_(connection_.database()) {}

SqliteStore::~SqliteStore() = default;

// ---- Projects ----

Result<void> SqliteStore::CreateProject(const Project& project) {
  if (project.id().empty() || project.name().empty()) return InvalidArgument("a project needs an id and a name");
  const SqliteConstraints constraints{
      {{"projects.name", ConflictError(fmt::format("a project named \"{}\" already exists", project.name()))},
       {"projects.id", ConflictError(fmt::format("a project with id {} already exists", project.id()))}},
      std::nullopt};
  return connection_.Run<void>("create project", constraints, [&]() -> Result<void> {
    SQLite::Statement insert(db_, "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)");
    insert.bind(1, project.id());
    insert.bind(2, project.name());
    insert.bind(3, project.created_at());
    insert.exec();
    return Ok();
  });
}

Result<Project> SqliteStore::GetProject(const std::string& id) {
  return connection_.Run<Project>("get project", [&]() -> Result<Project> {
    SQLite::Statement query(db_, EW_SELECT_PROJECT "FROM projects WHERE id = ?");
    query.bind(1, id);
    if (!query.executeStep()) return NotFound(fmt::format("project {} not found", id));
    return ReadProject(query);
  });
}

Result<Page<Project>> SqliteStore::ListProjects(const PageRequest& page) {
  EW_TRY(const PageStart start, StartPage(page, 1));
  return connection_.Run<Page<Project>>("list projects", [&]() -> Result<Page<Project>> {
    SQLite::Statement query(db_, EW_SELECT_PROJECT "FROM projects WHERE (? = 0 OR name > ?) ORDER BY name LIMIT ?");
    query.bind(start.BindAfter(query, 1), start.fetch_limit());
    std::vector<Project> projects;
    while (query.executeStep()) projects.push_back(ReadProject(query));
    return MakePage(std::move(projects), start.limit(), [](const Project& p) { return std::vector<std::string>{p.name()}; });
  });
}

Result<void> SqliteStore::DeleteProject(const std::string& id) {
  const SqliteConstraints constraints{{}, ConflictError(fmt::format("project {} still has users or boards", id))};
  return connection_.Run<void>("delete project", constraints, [&]() -> Result<void> {
    SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
    if (!Exists(db_, "SELECT 1 FROM projects WHERE id = ?", id)) {
      return NotFound(fmt::format("project {} not found", id));
    }
    const int64_t users = CountWhere(db_, "SELECT COUNT(*) FROM users WHERE project_id = ?", id);
    const int64_t boards = CountWhere(db_, "SELECT COUNT(*) FROM boards WHERE project_id = ?", id);
    if (users > 0 || boards > 0) {
      return Conflict(fmt::format("project {} still has {} and {}", id, Plural(users, "user"), Plural(boards, "board")));
    }
    SQLite::Statement remove(db_, "DELETE FROM projects WHERE id = ?");
    remove.bind(1, id);
    remove.exec();
    transaction.commit();
    return Ok();
  });
}

// ---- Users ----

Result<void> SqliteStore::CreateUser(const User& user, const std::string& password_hash) {
  if (user.id().empty() || user.name().empty()) return InvalidArgument("a user needs an id and a name");
  const SqliteConstraints constraints{
      {{"users.name", ConflictError(fmt::format("a user named \"{}\" already exists", user.name()))},
       {"users.id", ConflictError(fmt::format("a user with id {} already exists", user.id()))}},
      NotFoundError(fmt::format("project {} not found", user.project_id()))};
  return connection_.Run<void>("create user", constraints, [&]() -> Result<void> {
    SQLite::Statement insert(
        db_, "INSERT INTO users (id, name, project_id, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    insert.bind(1, user.id());
    insert.bind(2, user.name());
    if (user.project_id().empty()) {
      insert.bind(3);  // NULL: a user outside any project
    } else {
      insert.bind(3, user.project_id());
    }
    insert.bind(4, user.role());
    insert.bind(5, password_hash);
    insert.bind(6, user.created_at());
    insert.exec();
    return Ok();
  });
}

Result<User> SqliteStore::GetUser(const std::string& id) {
  return connection_.Run<User>("get user", [&]() -> Result<User> {
    auto query = connection_.Prepared(EW_SELECT_USER "FROM users WHERE id = ?");
    query->bind(1, id);
    if (!query->executeStep()) return NotFound(fmt::format("user {} not found", id));
    return ReadUser(*query);
  });
}

Result<User> SqliteStore::GetUserByName(const std::string& name) {
  return connection_.Run<User>("get user by name", [&]() -> Result<User> {
    SQLite::Statement query(db_, EW_SELECT_USER "FROM users WHERE name = ?");
    query.bind(1, name);
    if (!query.executeStep()) return NotFound(fmt::format("no user named \"{}\"", name));
    return ReadUser(query);
  });
}

Result<Page<User>> SqliteStore::ListUsers(const std::string& project_id, const PageRequest& page) {
  EW_TRY(const PageStart start, StartPage(page, 1));
  return connection_.Run<Page<User>>("list users", [&]() -> Result<Page<User>> {
    SQLite::Statement query(db_, EW_SELECT_USER "FROM users WHERE (? = '' OR project_id = ?) AND (? = 0 OR name > ?) "
                                               "ORDER BY name LIMIT ?");
    query.bind(1, project_id);
    query.bind(2, project_id);
    query.bind(start.BindAfter(query, 3), start.fetch_limit());
    std::vector<User> users;
    while (query.executeStep()) users.push_back(ReadUser(query));
    return MakePage(std::move(users), start.limit(), [](const User& u) { return std::vector<std::string>{u.name()}; });
  });
}

Result<void> SqliteStore::DeleteUser(const std::string& id) {
  return connection_.Run<void>("delete user", [&]() -> Result<void> {
    // One statement, so atomic; api_tokens go with it (ON DELETE CASCADE).
    SQLite::Statement remove(db_, "DELETE FROM users WHERE id = ?");
    remove.bind(1, id);
    if (remove.exec() == 0) return NotFound(fmt::format("user {} not found", id));
    return Ok();
  });
}

Result<std::string> SqliteStore::GetPasswordHash(const std::string& user_id) {
  return connection_.Run<std::string>("get password hash", [&]() -> Result<std::string> {
    SQLite::Statement query(db_, "SELECT password_hash FROM users WHERE id = ?");
    query.bind(1, user_id);
    if (!query.executeStep()) return NotFound(fmt::format("user {} not found", user_id));
    return query.getColumn(0).getString();
  });
}

Result<int64_t> SqliteStore::CountUsers() {
  return connection_.Run<int64_t>("count users", [&]() -> Result<int64_t> {
    SQLite::Statement query(db_, "SELECT COUNT(*) FROM users");
    query.executeStep();
    return query.getColumn(0).getInt64();
  });
}

// ---- API tokens ----

Result<void> SqliteStore::CreateToken(const ApiToken& token, const std::string& token_sha256) {
  if (token.id().empty() || token.user_id().empty() || token_sha256.empty()) {
    return InvalidArgument("a token needs an id, a user and a hash");
  }
  const SqliteConstraints constraints{
      {{"api_tokens.id", ConflictError(fmt::format("a token with id {} already exists", token.id()))},
       {"api_tokens.token_sha256", ConflictError("a token with the same hash already exists")}},
      NotFoundError(fmt::format("user {} not found", token.user_id()))};
  return connection_.Run<void>("create token", constraints, [&]() -> Result<void> {
    SQLite::Statement insert(
        db_, "INSERT INTO api_tokens (id, user_id, token_sha256, created_at, expires_at) VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, token.id());
    insert.bind(2, token.user_id());
    insert.bind(3, token_sha256);
    insert.bind(4, token.created_at());
    insert.bind(5, token.expires_at());
    insert.exec();
    return Ok();
  });
}

Result<ApiToken> SqliteStore::FindToken(const std::string& token_sha256, int64_t now) {
  return connection_.Run<ApiToken>("find token", [&]() -> Result<ApiToken> {
    auto query =
        connection_.Prepared(EW_SELECT_TOKEN "FROM api_tokens WHERE token_sha256 = ? AND (expires_at = 0 OR expires_at > ?)");
    query->bind(1, token_sha256);
    query->bind(2, now);
    if (!query->executeStep()) return NotFound("token not found or expired");
    return ReadToken(*query);
  });
}

Result<void> SqliteStore::DeleteToken(const std::string& id) {
  return connection_.Run<void>("delete token", [&]() -> Result<void> {
    SQLite::Statement remove(db_, "DELETE FROM api_tokens WHERE id = ?");
    remove.bind(1, id);
    if (remove.exec() == 0) return NotFound(fmt::format("token {} not found", id));
    return Ok();
  });
}

// ---- Boards ----

Result<void> SqliteStore::CreateBoard(const Board& board, const std::string& code_sha256, int64_t code_expires_at) {
  if (board.id().empty() || board.name().empty() || board.project_id().empty()) {
    return InvalidArgument("a board needs an id, a name and a project");
  }
  if (code_sha256.empty()) return InvalidArgument("a board needs an enrolment code");
  const SqliteConstraints constraints{
      {{"boards.project_id, boards.name",
        ConflictError(fmt::format("a board named \"{}\" already exists in project {}", board.name(), board.project_id()))},
       {"boards.id", ConflictError(fmt::format("a board with id {} already exists", board.id()))},
       {"enrolment_codes.code_sha256", ConflictError("the enrolment code is already in use")}},
      NotFoundError(fmt::format("project {} not found", board.project_id()))};
  const std::string labels = LabelsToJson(board);
  return connection_.Run<void>("create board", constraints, [&]() -> Result<void> {
    SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement insert(db_,
                             "INSERT INTO boards (id, name, project_id, created_at, enrolled_at, last_seen, labels) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, board.id());
    insert.bind(2, board.name());
    insert.bind(3, board.project_id());
    insert.bind(4, board.created_at());
    insert.bind(5, board.enrolled_at());
    insert.bind(6, board.last_seen());
    insert.bind(7, labels);
    insert.exec();
    SQLite::Statement code(db_, "INSERT INTO enrolment_codes (code_sha256, board_id, expires_at) VALUES (?, ?, ?)");
    code.bind(1, code_sha256);
    code.bind(2, board.id());
    code.bind(3, code_expires_at);
    code.exec();
    transaction.commit();
    return Ok();
  });
}

Result<Board> SqliteStore::GetBoard(const std::string& id) {
  return connection_.Run<Board>("get board", [&]() -> Result<Board> {
    auto board = FindBoard(connection_, id);
    if (!board) return NotFound(fmt::format("board {} not found", id));
    return std::move(*board);
  });
}

Result<Page<Board>> SqliteStore::ListBoards(const std::string& project_id, const PageRequest& page) {
  EW_TRY(const PageStart start, StartPage(page, 2));
  return connection_.Run<Page<Board>>("list boards", [&]() -> Result<Page<Board>> {
    SQLite::Statement query(db_, EW_SELECT_BOARD "FROM boards WHERE (? = '' OR project_id = ?) "
                                                "AND (? = 0 OR (project_id, name) > (?, ?)) "
                                                "ORDER BY project_id, name LIMIT ?");
    query.bind(1, project_id);
    query.bind(2, project_id);
    query.bind(start.BindAfter(query, 3), start.fetch_limit());
    std::vector<Board> boards;
    while (query.executeStep()) boards.push_back(ReadBoard(query));
    return MakePage(std::move(boards), start.limit(),
                    [](const Board& b) { return std::vector<std::string>{b.project_id(), b.name()}; });
  });
}

Result<void> SqliteStore::DeleteBoard(const std::string& id) {
  return connection_.Run<void>("delete board", [&]() -> Result<void> {
    // One statement, so atomic; the credential and any unused code go with it (ON DELETE CASCADE).
    SQLite::Statement remove(db_, "DELETE FROM boards WHERE id = ?");
    remove.bind(1, id);
    if (remove.exec() == 0) return NotFound(fmt::format("board {} not found", id));
    return Ok();
  });
}

Result<Board> SqliteStore::ConsumeEnrolmentCode(const std::string& code_sha256, int64_t now,
                                                const BoardCredential& credential) {
  return connection_.Run<Board>("consume enrolment code", [&]() -> Result<Board> {
    // The write lock is taken before the code is read, so two enrolments racing on one code (even
    // from two conductors on one file) cannot both see it unused.
    SQLite::Transaction transaction(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement find(db_, "SELECT board_id, expires_at FROM enrolment_codes WHERE code_sha256 = ?");
    find.bind(1, code_sha256);
    if (!find.executeStep()) return NotFound("enrolment code not found or already used");
    const std::string board_id = find.getColumn(0).getString();
    if (find.getColumn(1).getInt64() <= now) {
      return DeadlineExceeded(fmt::format("the enrolment code for board {} has expired", board_id));
    }
    find.reset();

    // Upsert: a board that is enrolled again gets its new credential.
    SQLite::Statement store(db_,
                            "INSERT INTO board_credentials (board_id, salt, iterations, keylen, derived_key) "
                            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (board_id) DO UPDATE SET salt = excluded.salt, "
                            "iterations = excluded.iterations, keylen = excluded.keylen, "
                            "derived_key = excluded.derived_key");
    store.bind(1, board_id);
    store.bind(2, credential.salt());
    store.bind(3, credential.iterations());
    store.bind(4, credential.keylen());
    store.bind(5, credential.derived_key());
    store.exec();
    SQLite::Statement enrol(db_, "UPDATE boards SET enrolled_at = ? WHERE id = ?");
    enrol.bind(1, now);
    enrol.bind(2, board_id);
    enrol.exec();
    SQLite::Statement forget(db_, "DELETE FROM enrolment_codes WHERE code_sha256 = ?");
    forget.bind(1, code_sha256);
    forget.exec();
    auto board = FindBoard(connection_, board_id);
    if (!board) return Internal(fmt::format("enrolment code refers to missing board {}", board_id));
    transaction.commit();
    return std::move(*board);
  });
}

Result<BoardCredential> SqliteStore::GetBoardCredential(const std::string& board_id) {
  return connection_.Run<BoardCredential>("get board credential", [&]() -> Result<BoardCredential> {
    SQLite::Statement query(
        db_, "SELECT salt, iterations, keylen, derived_key FROM board_credentials WHERE board_id = ?");
    query.bind(1, board_id);
    if (!query.executeStep()) {
      if (!Exists(db_, "SELECT 1 FROM boards WHERE id = ?", board_id)) {
        return NotFound(fmt::format("board {} not found", board_id));
      }
      return NotFound(fmt::format("board {} is not enrolled", board_id));
    }
    BoardCredential credential;
    credential.set_board_id(board_id);
    credential.set_salt(query.getColumn(0).getString());
    credential.set_iterations(query.getColumn(1).getInt());
    credential.set_keylen(query.getColumn(2).getInt());
    credential.set_derived_key(query.getColumn(3).getString());
    return credential;
  });
}

Result<void> SqliteStore::TouchBoard(const std::string& board_id, int64_t last_seen) {
  return connection_.Run<void>("touch board", [&]() -> Result<void> {
    // MAX: touches run on the blocking pool and may land out of order; last_seen only moves forward.
    SQLite::Statement update(db_, "UPDATE boards SET last_seen = MAX(last_seen, ?) WHERE id = ?");
    update.bind(1, last_seen);
    update.bind(2, board_id);
    if (update.exec() == 0) return NotFound(fmt::format("board {} not found", board_id));
    return Ok();
  });
}

Result<void> SqliteStore::TouchBoards(const std::vector<std::string>& board_ids, int64_t last_seen) {
  return connection_.Run<void>("touch boards", [&]() -> Result<void> {
    SQLite::Transaction tx(db_);
    SQLite::Statement update(db_, "UPDATE boards SET last_seen = MAX(last_seen, ?) WHERE id = ?");
    for (const auto& id : board_ids) {
      update.bind(1, last_seen);
      update.bind(2, id);
      update.exec();
      update.reset();
    }
    tx.commit();
    return Ok();
  });
}

// ---- Fleets ----

Result<void> SqliteStore::CreateFleet(const Fleet& fleet) {
  return connection_.Run<void>("create fleet", [&]() -> Result<void> {
    SQLite::Statement dup(db_, "SELECT 1 FROM fleets WHERE project_id = ? AND name = ?");
    dup.bind(1, fleet.project_id);
    dup.bind(2, fleet.name);
    if (dup.executeStep()) return Conflict("a fleet named " + fleet.name + " exists in this project");
    SQLite::Statement q(db_, "INSERT INTO fleets (id, project_id, name, created_at) VALUES (?, ?, ?, ?)");
    q.bind(1, fleet.id);
    q.bind(2, fleet.project_id);
    q.bind(3, fleet.name);
    q.bind(4, fleet.created_at);
    q.exec();
    return Ok();
  });
}

Result<Fleet> SqliteStore::GetFleet(const std::string& id) {
  return connection_.Run<Fleet>("get fleet", [&]() -> Result<Fleet> {
    SQLite::Statement q(db_, "SELECT id, project_id, name, created_at FROM fleets WHERE id = ?");
    q.bind(1, id);
    if (!q.executeStep()) return NotFound("fleet " + id + " does not exist");
    Fleet f{q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getString(),
            q.getColumn(3).getInt64(), {}};
    f.board_ids = FleetBoards(db_, f.id);
    return f;
  });
}

Result<Page<Fleet>> SqliteStore::ListFleets(const std::string& project_id, const PageRequest& page) {
  EW_TRY(const PageStart start, StartPage(page, 2));
  return connection_.Run<Page<Fleet>>("list fleets", [&]() -> Result<Page<Fleet>> {
    SQLite::Statement q(db_, "SELECT id, project_id, name, created_at FROM fleets "
                             "WHERE (? = '' OR project_id = ?) AND (? = 0 OR (name, id) > (?, ?)) "
                             "ORDER BY name, id LIMIT ?");
    q.bind(1, project_id);
    q.bind(2, project_id);
    q.bind(start.BindAfter(q, 3), start.fetch_limit());
    std::vector<Fleet> out;
    while (q.executeStep()) {
      out.push_back(Fleet{q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getString(),
                          q.getColumn(3).getInt64(), {}});
    }
    auto listed = MakePage(std::move(out), start.limit(),
                                     [](const Fleet& f) { return std::vector<std::string>{f.name, f.id}; });
    for (auto& f : listed.items) f.board_ids = FleetBoards(db_, f.id);
    return listed;
  });
}

Result<void> SqliteStore::DeleteFleet(const std::string& id) {
  return connection_.Run<void>("delete fleet", [&]() -> Result<void> {
    SQLite::Transaction tx(db_);
    SQLite::Statement members(db_, "DELETE FROM fleet_boards WHERE fleet_id = ?");
    members.bind(1, id);
    members.exec();
    SQLite::Statement q(db_, "DELETE FROM fleets WHERE id = ?");
    q.bind(1, id);
    if (q.exec() == 0) return NotFound("fleet " + id + " does not exist");
    tx.commit();
    return Ok();
  });
}

Result<void> SqliteStore::AddFleetBoard(const std::string& fleet_id, const std::string& board_id) {
  return connection_.Run<void>("add board to fleet", [&]() -> Result<void> {
    SQLite::Statement q(db_, "INSERT OR IGNORE INTO fleet_boards (fleet_id, board_id) VALUES (?, ?)");
    q.bind(1, fleet_id);
    q.bind(2, board_id);
    q.exec();
    return Ok();
  });
}

Result<void> SqliteStore::RemoveFleetBoard(const std::string& fleet_id, const std::string& board_id) {
  return connection_.Run<void>("remove board from fleet", [&]() -> Result<void> {
    SQLite::Statement q(db_, "DELETE FROM fleet_boards WHERE fleet_id = ? AND board_id = ?");
    q.bind(1, fleet_id);
    q.bind(2, board_id);
    if (q.exec() == 0) return NotFound("board " + board_id + " is not in fleet " + fleet_id);
    return Ok();
  });
}

// ---- Opening ----

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  if (path.empty()) return InvalidArgument("the store path is empty");
  try {
    SQLite::Database db = OpenSqliteDatabase(path);
    // WAL lets readers run beside the writer and survives a crash with synchronous=NORMAL losing at
    // most the last transactions, never corrupting the file. ":memory:" stays in "memory" mode.
    const std::string journal = db.execAndGet("PRAGMA journal_mode = WAL").getString();
    if (journal != "wal" && path != ":memory:") {
      Log()->warn("store {} runs in journal mode {} instead of wal", path, journal);
    }
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    EW_TRY(const MigrationReport report, ApplyMigrations(db));
    Log()->info("store opened path={} schema=v{} migrations_applied={}", path, report.to_version, report.applied);
    return std::unique_ptr<Store>(std::make_unique<SqliteStore>(std::move(db)));
  } catch (const std::exception& e) {
    Log()->error("cannot open store {}: {}", path, e.what());
    return Internal(fmt::format("cannot open store {}: {}", path, e.what()));
  }
}

#undef EW_SELECT_PROJECT
#undef EW_SELECT_USER
#undef EW_SELECT_TOKEN
#undef EW_SELECT_BOARD

}  // namespace ew::registry
