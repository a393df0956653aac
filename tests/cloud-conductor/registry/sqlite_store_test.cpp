// SqliteStore against the Store contract, on ":memory:" and on a WAL file: every method, every
// error class, no state change on error, and many threads at once.
#include "cloud-conductor/registry/sqlite_store.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cloud-conductor/registry/migrations.hpp"

namespace ew::registry {
namespace {

// Every row of a paged list (the tests hold fewer than a page).
const PageRequest kAllRows{kMaxPageLimit, ""};
template <typename T>
Result<std::vector<T>> Items(Result<Page<T>> page) {
  if (!page) return tl::unexpected(page.error());
  return std::move(page->items);
}

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A private directory under $TMPDIR, removed with everything in it (including -wal and -shm).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ew-store-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

Project MakeProject(const std::string& id, const std::string& name) {
  Project project;
  project.set_id(id);
  project.set_name(name);
  project.set_created_at(1000);
  return project;
}

User MakeUser(const std::string& id, const std::string& name, const std::string& project_id,
              const std::string& role = "operator") {
  User user;
  user.set_id(id);
  user.set_name(name);
  user.set_project_id(project_id);
  user.set_role(role);
  user.set_created_at(1001);
  return user;
}

ApiToken MakeToken(const std::string& id, const std::string& user_id, int64_t expires_at) {
  ApiToken token;
  token.set_id(id);
  token.set_user_id(user_id);
  token.set_created_at(1002);
  token.set_expires_at(expires_at);
  return token;
}

Board MakeBoard(const std::string& id, const std::string& name, const std::string& project_id) {
  Board board;
  board.set_id(id);
  board.set_name(name);
  board.set_project_id(project_id);
  board.set_created_at(1003);
  return board;
}

BoardCredential MakeCredential() {
  BoardCredential credential;
  credential.set_salt("c2FsdA==");
  credential.set_iterations(1000);
  credential.set_keylen(32);
  credential.set_derived_key("ZGVyaXZlZA==");
  return credential;
}

std::vector<std::string> Names(const std::vector<Board>& boards) {
  std::vector<std::string> names;
  for (const auto& b : boards) names.push_back(b.name());
  return names;
}
std::vector<std::string> Names(const std::vector<User>& users) {
  std::vector<std::string> names;
  for (const auto& u : users) names.push_back(u.name());
  return names;
}

#define ASSERT_OK(expr)                                        \
  do {                                                         \
    auto ew_r = (expr);                                        \
    ASSERT_TRUE(ew_r) << #expr << ": " << ew_r.error().message; \
  } while (0)

#define EXPECT_ERROR(expr, error_code)                                  \
  do {                                                                  \
    auto ew_r = (expr);                                                 \
    ASSERT_FALSE(ew_r) << #expr << " succeeded";                        \
    EXPECT_EQ(ew_r.error().code, error_code) << ew_r.error().message;   \
  } while (0)

// Every test runs on ":memory:" and on a file, so WAL and the file path are covered too.
class SqliteStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    path_ = GetParam() ? dir_.File("registry.db") : ":memory:";
    auto opened = OpenSqliteStore(path_);
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
  }

  // Project "p1" with board "b1" ("kitchen"), enrolment code "code1" valid until 2000.
  void AddBoard() {
    ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
    ASSERT_OK(store_->CreateBoard(MakeBoard("b1", "kitchen", "p1"), "code1", 2000));
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, SqliteStoreTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "File" : "Memory"; });

// ---- Projects ----

TEST_P(SqliteStoreTest, ProjectRoundTripAndOrderedList) {
  ASSERT_OK(store_->CreateProject(MakeProject("p2", "zeta")));
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  auto got = store_->GetProject("p1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id(), "p1");
  EXPECT_EQ(got->name(), "acme");
  EXPECT_EQ(got->created_at(), 1000);
  auto all = Items(store_->ListProjects(kAllRows));
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name(), "acme");
  EXPECT_EQ((*all)[1].name(), "zeta");
}

TEST_P(SqliteStoreTest, ProjectErrors) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  auto duplicate_name = store_->CreateProject(MakeProject("p2", "acme"));
  ASSERT_FALSE(duplicate_name);
  EXPECT_EQ(duplicate_name.error().code, ErrorCode::kConflict);
  EXPECT_EQ(duplicate_name.error().message, "a project named \"acme\" already exists");
  auto duplicate_id = store_->CreateProject(MakeProject("p1", "other"));
  ASSERT_FALSE(duplicate_id);
  EXPECT_EQ(duplicate_id.error().code, ErrorCode::kConflict);
  EXPECT_EQ(duplicate_id.error().message, "a project with id p1 already exists");
  EXPECT_ERROR(store_->CreateProject(MakeProject("", "x")), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(store_->CreateProject(MakeProject("p3", "")), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(store_->GetProject("nope"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->DeleteProject("nope"), ErrorCode::kNotFound);
  EXPECT_EQ(Items(store_->ListProjects(kAllRows))->size(), 1u);
}

TEST_P(SqliteStoreTest, DeleteProjectRefusedWhileUsersOrBoardsRemain) {
  AddBoard();
  ASSERT_OK(store_->CreateUser(MakeUser("u1", "alice", "p1"), "hash"));
  auto refused = store_->DeleteProject("p1");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_EQ(refused.error().message, "project p1 still has 1 user and 1 board");
  EXPECT_TRUE(store_->GetProject("p1"));

  ASSERT_OK(store_->DeleteUser("u1"));
  auto still_boards = store_->DeleteProject("p1");
  ASSERT_FALSE(still_boards);
  EXPECT_EQ(still_boards.error().code, ErrorCode::kConflict);
  EXPECT_EQ(still_boards.error().message, "project p1 still has 0 users and 1 board");

  ASSERT_OK(store_->DeleteBoard("b1"));
  ASSERT_OK(store_->DeleteProject("p1"));
  EXPECT_ERROR(store_->GetProject("p1"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->DeleteProject("p1"), ErrorCode::kNotFound);
}

// ---- Users ----

TEST_P(SqliteStoreTest, UserRoundTripListsAndCount) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  ASSERT_OK(store_->CreateProject(MakeProject("p2", "zeta")));
  ASSERT_OK(store_->CreateUser(MakeUser("u1", "carol", "p1"), "hash-c"));
  ASSERT_OK(store_->CreateUser(MakeUser("u2", "alice", "p1"), "hash-a"));
  ASSERT_OK(store_->CreateUser(MakeUser("u3", "bob", "p2"), "hash-b"));
  ASSERT_OK(store_->CreateUser(MakeUser("u0", "root", "", "admin"), "hash-r"));

  auto carol = store_->GetUser("u1");
  ASSERT_TRUE(carol);
  EXPECT_EQ(carol->name(), "carol");
  EXPECT_EQ(carol->project_id(), "p1");
  EXPECT_EQ(carol->role(), "operator");
  EXPECT_EQ(carol->created_at(), 1001);
  auto root = store_->GetUserByName("root");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->id(), "u0");
  EXPECT_EQ(root->project_id(), "");  // admins belong to no project
  EXPECT_EQ(root->role(), "admin");

  EXPECT_THAT(Names(*Items(store_->ListUsers("p1", kAllRows))), ElementsAre("alice", "carol"));
  EXPECT_THAT(Names(*Items(store_->ListUsers("p2", kAllRows))), ElementsAre("bob"));
  EXPECT_THAT(Names(*Items(store_->ListUsers("", kAllRows))), ElementsAre("alice", "bob", "carol", "root"));
  EXPECT_THAT(*Items(store_->ListUsers("nope", kAllRows)), IsEmpty());
  EXPECT_EQ(*store_->CountUsers(), 4);
  EXPECT_EQ(*store_->GetPasswordHash("u2"), "hash-a");
}

TEST_P(SqliteStoreTest, UserErrors) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  ASSERT_OK(store_->CreateProject(MakeProject("p2", "zeta")));
  ASSERT_OK(store_->CreateUser(MakeUser("u1", "alice", "p1"), "hash"));
  // Names are unique across the conductor, not per project.
  auto duplicate = store_->CreateUser(MakeUser("u2", "alice", "p2"), "hash");
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, ErrorCode::kConflict);
  EXPECT_EQ(duplicate.error().message, "a user named \"alice\" already exists");
  auto duplicate_id = store_->CreateUser(MakeUser("u1", "bob", "p1"), "hash");
  ASSERT_FALSE(duplicate_id);
  EXPECT_EQ(duplicate_id.error().code, ErrorCode::kConflict);
  EXPECT_EQ(duplicate_id.error().message, "a user with id u1 already exists");
  auto no_project = store_->CreateUser(MakeUser("u3", "carol", "nope"), "hash");
  ASSERT_FALSE(no_project);
  EXPECT_EQ(no_project.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(no_project.error().message, "project nope not found");
  EXPECT_ERROR(store_->CreateUser(MakeUser("", "dave", "p1"), "hash"), ErrorCode::kInvalidArgument);

  EXPECT_EQ(*store_->CountUsers(), 1);  // none of the failures left a row
  EXPECT_ERROR(store_->GetUser("nope"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->GetUserByName("carol"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->GetPasswordHash("nope"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->DeleteUser("nope"), ErrorCode::kNotFound);
}

TEST_P(SqliteStoreTest, DeleteUserDeletesItsTokens) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  ASSERT_OK(store_->CreateUser(MakeUser("u1", "alice", "p1"), "hash"));
  ASSERT_OK(store_->CreateUser(MakeUser("u2", "bob", "p1"), "hash"));
  ASSERT_OK(store_->CreateToken(MakeToken("t1", "u1", 5000), "sha-1"));
  ASSERT_OK(store_->CreateToken(MakeToken("t2", "u1", 5000), "sha-2"));
  ASSERT_OK(store_->CreateToken(MakeToken("t3", "u2", 5000), "sha-3"));

  ASSERT_OK(store_->DeleteUser("u1"));
  EXPECT_ERROR(store_->GetUser("u1"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->FindToken("sha-1", 100), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->FindToken("sha-2", 100), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->DeleteToken("t1"), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->FindToken("sha-3", 100));  // other users keep theirs
  EXPECT_EQ(*store_->CountUsers(), 1);
}

// ---- Tokens ----

TEST_P(SqliteStoreTest, TokenLookupHonoursExpiry) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  ASSERT_OK(store_->CreateUser(MakeUser("u1", "alice", "p1"), "hash"));
  ASSERT_OK(store_->CreateToken(MakeToken("t1", "u1", 5000), "sha-1"));

  auto found = store_->FindToken("sha-1", 4999);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->id(), "t1");
  EXPECT_EQ(found->user_id(), "u1");
  EXPECT_EQ(found->created_at(), 1002);
  EXPECT_EQ(found->expires_at(), 5000);
  EXPECT_ERROR(store_->FindToken("sha-1", 5000), ErrorCode::kNotFound);  // expires_at <= now
  EXPECT_ERROR(store_->FindToken("sha-1", 6000), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->FindToken("sha-unknown", 0), ErrorCode::kNotFound);

  ASSERT_OK(store_->DeleteToken("t1"));
  EXPECT_ERROR(store_->FindToken("sha-1", 0), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->DeleteToken("t1"), ErrorCode::kNotFound);
}

TEST_P(SqliteStoreTest, TokenThatExpiresAtZeroNeverExpires) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  ASSERT_OK(store_->CreateUser(MakeUser("u1", "alice", "p1"), "hash"));
  ASSERT_OK(store_->CreateToken(MakeToken("t1", "u1", 0), "sha-1"));
  auto found = store_->FindToken("sha-1", 4'000'000'000);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->expires_at(), 0);
}

TEST_P(SqliteStoreTest, TokenErrors) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  ASSERT_OK(store_->CreateUser(MakeUser("u1", "alice", "p1"), "hash"));
  ASSERT_OK(store_->CreateToken(MakeToken("t1", "u1", 5000), "sha-1"));
  EXPECT_ERROR(store_->CreateToken(MakeToken("t2", "u1", 5000), "sha-1"), ErrorCode::kConflict);
  EXPECT_ERROR(store_->CreateToken(MakeToken("t1", "u1", 5000), "sha-2"), ErrorCode::kConflict);
  auto no_user = store_->CreateToken(MakeToken("t3", "nope", 5000), "sha-3");
  ASSERT_FALSE(no_user);
  EXPECT_EQ(no_user.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(no_user.error().message, "user nope not found");
  EXPECT_ERROR(store_->CreateToken(MakeToken("t4", "u1", 5000), ""), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(store_->FindToken("sha-2", 0), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->FindToken("sha-3", 0), ErrorCode::kNotFound);
}

// ---- Boards ----

TEST_P(SqliteStoreTest, BoardRoundTripKeepsLabelsAndDropsLiveState) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  Board board = MakeBoard("b1", "kitchen", "p1");
  (*board.mutable_labels())["room"] = "kitchen";
  (*board.mutable_labels())["quote\"d"] = "{\"json\": [1]}";
  board.set_status("online");
  board.set_session_peer("10.0.0.7:5000");
  ASSERT_OK(store_->CreateBoard(board, "code1", 2000));

  auto got = store_->GetBoard("b1");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->id(), "b1");
  EXPECT_EQ(got->name(), "kitchen");
  EXPECT_EQ(got->project_id(), "p1");
  EXPECT_EQ(got->created_at(), 1003);
  EXPECT_EQ(got->enrolled_at(), 0);
  EXPECT_EQ(got->last_seen(), 0);
  ASSERT_EQ(got->labels().size(), 2u);
  EXPECT_EQ(got->labels().at("room"), "kitchen");
  EXPECT_EQ(got->labels().at("quote\"d"), "{\"json\": [1]}");
  EXPECT_EQ(got->status(), "");
  EXPECT_EQ(got->session_peer(), "");
}

// Every board of `project_id`, read `limit` at a time by following the cursors; also counts
// the pages.
std::vector<std::string> AllBoardNames(Store& store, const std::string& project_id, size_t limit, int* pages) {
  std::vector<std::string> names;
  PageRequest page{limit, ""};
  *pages = 0;
  do {
    auto listed = store.ListBoards(project_id, page);
    EXPECT_TRUE(listed) << listed.error().message;
    if (!listed) break;
    EXPECT_LE(listed->items.size(), limit);
    for (const auto& board : listed->items) names.push_back(board.project_id() + "/" + board.name());
    page.cursor = listed->next_cursor;
    ++*pages;
  } while (!page.cursor.empty() && *pages < 100);
  return names;
}

TEST_P(SqliteStoreTest, ListsArePagedByCursor) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  ASSERT_OK(store_->CreateProject(MakeProject("p2", "zeta")));
  for (int i = 0; i < 7; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_OK(store_->CreateBoard(MakeBoard("b1-" + n, "board-" + n, "p1"), "c1" + n, 2000));
    ASSERT_OK(store_->CreateBoard(MakeBoard("b2-" + n, "board-" + n, "p2"), "c2" + n, 2000));
  }
  int pages = 0;
  auto all = AllBoardNames(*store_, "", 3, &pages);
  EXPECT_EQ(all.size(), 14u);
  EXPECT_EQ(pages, 5);  // 3+3+3+3+2
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 14u) << "no board twice";
  auto p2 = AllBoardNames(*store_, "p2", 7, &pages);
  EXPECT_EQ(p2.size(), 7u);
  EXPECT_EQ(pages, 1) << "an exactly full page is the last one";
  EXPECT_EQ(p2.front(), "p2/board-0");

  // Users and projects page the same way.
  for (int i = 0; i < 3; ++i) ASSERT_OK(store_->CreateUser(MakeUser("u" + std::to_string(i), "user-" + std::to_string(i), "p1"), "h"));
  auto first = store_->ListUsers("p1", {2, ""});
  ASSERT_TRUE(first);
  EXPECT_THAT(Names(first->items), ElementsAre("user-0", "user-1"));
  ASSERT_FALSE(first->next_cursor.empty());
  auto second = store_->ListUsers("p1", {2, first->next_cursor});
  ASSERT_TRUE(second);
  EXPECT_THAT(Names(second->items), ElementsAre("user-2"));
  EXPECT_TRUE(second->next_cursor.empty());
  auto projects = store_->ListProjects({1, ""});
  ASSERT_TRUE(projects);
  ASSERT_EQ(projects->items.size(), 1u);
  EXPECT_EQ(projects->items[0].name(), "acme");
  auto rest = store_->ListProjects({1, projects->next_cursor});
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].name(), "zeta");
  EXPECT_TRUE(rest->next_cursor.empty());
}

TEST_P(SqliteStoreTest, BadPageRequestsAreInvalidArguments) {
  AddBoard();
  EXPECT_ERROR(store_->ListBoards("", {0, ""}), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(store_->ListBoards("", {kMaxPageLimit + 1, ""}), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(store_->ListBoards("", {10, "not a cursor!"}), ErrorCode::kInvalidArgument);
  // A cursor of another list (one field, boards need two) is refused, not misread.
  EXPECT_ERROR(store_->ListBoards("", {10, EncodeCursor({"x"})}), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(store_->ListUsers("", {10, std::string(kMaxCursorChars + 1, 'A')}), ErrorCode::kInvalidArgument);
  auto bad = store_->ListProjects({10, "%%%"});
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("cursor"));
}

TEST(CursorTest, RoundTripsAndRefusesWhatItDidNotMake) {
  const std::vector<std::string> key = {"prj-1", "board.name_x", "", "12345"};
  auto decoded = DecodeCursor(EncodeCursor(key), 4);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, key);
  EXPECT_FALSE(DecodeCursor(EncodeCursor(key), 3));
  EXPECT_FALSE(DecodeCursor("", 1));
  EXPECT_FALSE(DecodeCursor("a+b/", 1)) << "base64url only";
  EXPECT_FALSE(DecodeCursor("B", 1)) << "a dangling character is not whole bytes";
  EXPECT_EQ(*CursorInteger("-42"), -42);
  EXPECT_FALSE(CursorInteger("4x"));
  EXPECT_FALSE(CursorInteger("99999999999999999999"));
  EXPECT_FALSE(CursorInteger("9223372036854775808"));
  EXPECT_EQ(*CursorInteger("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(*CursorInteger("1700000000000000005"), 1700000000000000005);
}

// StartPage + PageStart::BindAfter: the one preamble of every paged query in every store.
TEST(PageStartTest, BindsTheFirstAndALaterPageAndChecksTheRequest) {
  SQLite::Database db(":memory:", SQLite::OPEN_READWRITE);
  db.exec("CREATE TABLE t (name TEXT, id TEXT); INSERT INTO t VALUES ('a','1'),('b','1'),('b','2'),('c','1')");
  auto names = [&db](const PageStart& start) {
    SQLite::Statement q(db, "SELECT name || id FROM t WHERE (? = 0 OR (name, id) > (?, ?)) ORDER BY name, id LIMIT ?");
    q.bind(start.BindAfter(q, 1), start.fetch_limit());
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  };
  auto first = StartPage({2, ""}, 2);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->is_first());
  EXPECT_EQ(first->fetch_limit(), 3);
  EXPECT_EQ(names(*first), (std::vector<std::string>{"a1", "b1", "b2"})) << "one more than the page";
  auto later = StartPage({2, EncodeCursor({"b", "1"})}, 2);
  ASSERT_TRUE(later);
  EXPECT_FALSE(later->is_first());
  EXPECT_EQ(names(*later), (std::vector<std::string>{"b2", "c1"}));

  auto integers = StartPage({5, EncodeCursor({"17", "-3"})}, 2, CursorFields::kIntegers);
  ASSERT_TRUE(integers);
  EXPECT_EQ(integers->integers(), (std::vector<int64_t>{17, -3}));
  EXPECT_FALSE(StartPage({5, EncodeCursor({"17", "x"})}, 2, CursorFields::kIntegers));
  EXPECT_FALSE(StartPage({5, EncodeCursor({"b"})}, 2)) << "a cursor of another list";
  EXPECT_FALSE(StartPage({0, ""}, 1));
  EXPECT_FALSE(StartPage({kMaxPageLimit + 1, ""}, 1));
  EXPECT_TRUE(StartPage({5000, ""}, 1, CursorFields::kText, 10'000)) << "a list with its own cap";
}

// Fleets moved here from the functions store (they group boards: a registry concept).
TEST_P(SqliteStoreTest, FleetNamesAreUniquePerProjectAndMembershipIsKept) {
  AddBoard();  // p1 with b1
  ASSERT_OK(store_->CreateBoard(MakeBoard("b2", "porch", "p1"), "code2", 2000));
  ASSERT_OK(store_->CreateProject(MakeProject("p2", "other")));
  ASSERT_OK(store_->CreateFleet({"flt-1", "p1", "greenhouse", 1, {}}));
  EXPECT_ERROR(store_->CreateFleet({"flt-2", "p1", "greenhouse", 1, {}}), ErrorCode::kConflict);
  ASSERT_OK(store_->CreateFleet({"flt-3", "p2", "greenhouse", 1, {}}));
  EXPECT_ERROR(store_->CreateFleet({"flt-4", "p-none", "x", 1, {}}), ErrorCode::kNotFound);
  ASSERT_OK(store_->AddFleetBoard("flt-1", "b2"));
  ASSERT_OK(store_->AddFleetBoard("flt-1", "b1"));
  ASSERT_OK(store_->AddFleetBoard("flt-1", "b1"));  // twice is once
  EXPECT_ERROR(store_->AddFleetBoard("flt-1", "b-none"), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetFleet("flt-1")->board_ids, (std::vector<std::string>{"b1", "b2"}));
  ASSERT_OK(store_->RemoveFleetBoard("flt-1", "b2"));
  EXPECT_ERROR(store_->RemoveFleetBoard("flt-1", "b2"), ErrorCode::kNotFound);
  EXPECT_EQ(Items(store_->ListFleets("p1", kAllRows))->size(), 1u);
  EXPECT_EQ(Items(store_->ListFleets("", kAllRows))->size(), 2u);
  ASSERT_OK(store_->DeleteBoard("b1"));
  EXPECT_THAT(store_->GetFleet("flt-1")->board_ids, IsEmpty()) << "a deleted board leaves its fleets";
  ASSERT_OK(store_->DeleteFleet("flt-1"));
  EXPECT_ERROR(store_->GetFleet("flt-1"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->DeleteFleet("flt-1"), ErrorCode::kNotFound);
}

TEST_P(SqliteStoreTest, FleetsArePagedByNameThenId) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  for (const char* name : {"c", "a", "b"}) ASSERT_OK(store_->CreateFleet({std::string("flt-") + name, "p1", name, 1, {}}));
  auto first = store_->ListFleets("p1", {2, ""});
  ASSERT_TRUE(first);
  ASSERT_EQ(first->items.size(), 2u);
  EXPECT_EQ(first->items[1].name, "b");
  auto rest = store_->ListFleets("p1", {2, first->next_cursor});
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].name, "c");
  EXPECT_TRUE(rest->next_cursor.empty());
}

TEST_P(SqliteStoreTest, BoardNamesAreUniquePerProject) {
  AddBoard();
  ASSERT_OK(store_->CreateProject(MakeProject("p2", "zeta")));
  auto duplicate = store_->CreateBoard(MakeBoard("b2", "kitchen", "p1"), "code2", 2000);
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, ErrorCode::kConflict);
  EXPECT_EQ(duplicate.error().message, "a board named \"kitchen\" already exists in project p1");
  // The failed create stored nothing: its code cannot enrol anything.
  EXPECT_ERROR(store_->ConsumeEnrolmentCode("code2", 100, MakeCredential()), ErrorCode::kNotFound);

  ASSERT_OK(store_->CreateBoard(MakeBoard("b2", "kitchen", "p2"), "code2", 2000));
  ASSERT_OK(store_->CreateBoard(MakeBoard("b3", "attic", "p1"), "code3", 2000));
  EXPECT_THAT(Names(*Items(store_->ListBoards("p1", kAllRows))), ElementsAre("attic", "kitchen"));
  EXPECT_THAT(Names(*Items(store_->ListBoards("p2", kAllRows))), ElementsAre("kitchen"));
  EXPECT_EQ(Items(store_->ListBoards("", kAllRows))->size(), 3u);
  EXPECT_THAT(*Items(store_->ListBoards("nope", kAllRows)), IsEmpty());
}

TEST_P(SqliteStoreTest, BoardErrorsChangeNothing) {
  AddBoard();
  auto duplicate_id = store_->CreateBoard(MakeBoard("b1", "attic", "p1"), "code2", 2000);
  ASSERT_FALSE(duplicate_id);
  EXPECT_EQ(duplicate_id.error().code, ErrorCode::kConflict);
  EXPECT_EQ(duplicate_id.error().message, "a board with id b1 already exists");
  // The board row goes in first, then the code: a clash on the code must take the board back out.
  auto duplicate_code = store_->CreateBoard(MakeBoard("b2", "attic", "p1"), "code1", 2000);
  ASSERT_FALSE(duplicate_code);
  EXPECT_EQ(duplicate_code.error().code, ErrorCode::kConflict);
  EXPECT_ERROR(store_->GetBoard("b2"), ErrorCode::kNotFound);
  auto no_project = store_->CreateBoard(MakeBoard("b3", "attic", "nope"), "code3", 2000);
  ASSERT_FALSE(no_project);
  EXPECT_EQ(no_project.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(no_project.error().message, "project nope not found");
  EXPECT_ERROR(store_->CreateBoard(MakeBoard("b4", "attic", ""), "code4", 2000), ErrorCode::kInvalidArgument);
  EXPECT_ERROR(store_->CreateBoard(MakeBoard("b5", "attic", "p1"), "", 2000), ErrorCode::kInvalidArgument);
  EXPECT_THAT(Names(*Items(store_->ListBoards("", kAllRows))), ElementsAre("kitchen"));

  EXPECT_ERROR(store_->GetBoard("nope"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->DeleteBoard("nope"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->TouchBoard("nope", 10), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->GetBoardCredential("nope"), ErrorCode::kNotFound);
}

TEST_P(SqliteStoreTest, TouchBoardOnlyMovesForward) {
  AddBoard();
  ASSERT_OK(store_->TouchBoard("b1", 1500));
  EXPECT_EQ(store_->GetBoard("b1")->last_seen(), 1500);
  ASSERT_OK(store_->TouchBoard("b1", 1400));  // a late touch from an earlier moment
  EXPECT_EQ(store_->GetBoard("b1")->last_seen(), 1500);
  ASSERT_OK(store_->TouchBoard("b1", 1600));
  EXPECT_EQ(store_->GetBoard("b1")->last_seen(), 1600);
}

// Issue 14: a herd of rejoining boards is one transaction; boards deleted meanwhile are skipped.
TEST_P(SqliteStoreTest, TouchBoardsTouchesEachOnceAndSkipsTheGone) {
  AddBoard();
  ASSERT_OK(store_->TouchBoard("b1", 1500));
  ASSERT_OK(store_->TouchBoards({"b1", "gone", "b1"}, 1700));
  EXPECT_EQ(store_->GetBoard("b1")->last_seen(), 1700);
  ASSERT_OK(store_->TouchBoards({"b1"}, 1600));  // never backwards
  EXPECT_EQ(store_->GetBoard("b1")->last_seen(), 1700);
  ASSERT_OK(store_->TouchBoards({}, 1800));
}

// ---- Enrolment ----

TEST_P(SqliteStoreTest, EnrolmentCodeIsConsumedOnce) {
  AddBoard();
  auto pending = store_->GetBoardCredential("b1");
  ASSERT_FALSE(pending);
  EXPECT_EQ(pending.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(pending.error().message, "board b1 is not enrolled");

  BoardCredential credential = MakeCredential();
  credential.set_board_id("ignored: the code names the board");
  auto enrolled = store_->ConsumeEnrolmentCode("code1", 1500, credential);
  ASSERT_TRUE(enrolled) << enrolled.error().message;
  EXPECT_EQ(enrolled->id(), "b1");
  EXPECT_EQ(enrolled->enrolled_at(), 1500);
  EXPECT_EQ(store_->GetBoard("b1")->enrolled_at(), 1500);

  auto stored = store_->GetBoardCredential("b1");
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->board_id(), "b1");
  EXPECT_EQ(stored->salt(), "c2FsdA==");
  EXPECT_EQ(stored->iterations(), 1000);
  EXPECT_EQ(stored->keylen(), 32);
  EXPECT_EQ(stored->derived_key(), "ZGVyaXZlZA==");

  auto again = store_->ConsumeEnrolmentCode("code1", 1501, MakeCredential());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  EXPECT_ERROR(store_->ConsumeEnrolmentCode("unknown", 1501, MakeCredential()), ErrorCode::kNotFound);
}

TEST_P(SqliteStoreTest, ExpiredEnrolmentCodeStaysUnused) {
  AddBoard();  // code1 expires at 2000
  auto expired = store_->ConsumeEnrolmentCode("code1", 2000, MakeCredential());
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(store_->GetBoard("b1")->enrolled_at(), 0);
  EXPECT_ERROR(store_->GetBoardCredential("b1"), ErrorCode::kNotFound);
  EXPECT_ERROR(store_->ConsumeEnrolmentCode("code1", 3000, MakeCredential()), ErrorCode::kDeadlineExceeded);
  // Still there, untouched: a call from before the expiry would still take it.
  ASSERT_OK(store_->ConsumeEnrolmentCode("code1", 1999, MakeCredential()));
}

TEST_P(SqliteStoreTest, DeleteBoardDeletesCredentialAndCode) {
  AddBoard();
  ASSERT_OK(store_->CreateBoard(MakeBoard("b2", "attic", "p1"), "code2", 2000));
  ASSERT_OK(store_->ConsumeEnrolmentCode("code1", 1500, MakeCredential()));
  ASSERT_OK(store_->DeleteBoard("b1"));
  auto gone = store_->GetBoardCredential("b1");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(gone.error().message, "board b1 not found");
  ASSERT_OK(store_->DeleteBoard("b2"));  // never enrolled: its code goes
  EXPECT_ERROR(store_->ConsumeEnrolmentCode("code2", 1500, MakeCredential()), ErrorCode::kNotFound);
  // The name is free again.
  ASSERT_OK(store_->CreateBoard(MakeBoard("b3", "kitchen", "p1"), "code3", 2000));
}

// ---- Threads ----

TEST_P(SqliteStoreTest, ManyThreadsAtOnce) {
  ASSERT_OK(store_->CreateProject(MakeProject("p1", "acme")));
  constexpr int kThreads = 8;
  constexpr int kBoardsPerThread = 40;
  std::vector<std::vector<std::string>> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &errors] {
      for (int i = 0; i < kBoardsPerThread; ++i) {
        const std::string id = "b-" + std::to_string(t) + "-" + std::to_string(i);
        if (auto r = store_->CreateBoard(MakeBoard(id, "name-" + id, "p1"), "code-" + id, 9000); !r) {
          errors[t].push_back(r.error().message);
        }
        if (auto r = Items(store_->ListBoards("p1", kAllRows)); !r) errors[t].push_back(r.error().message);
        if (auto r = store_->TouchBoard(id, 100 + i); !r) errors[t].push_back(r.error().message);
        if (auto r = store_->GetBoard(id); !r) errors[t].push_back(r.error().message);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_THAT(errors[t], IsEmpty()) << "thread " << t;

  auto boards = Items(store_->ListBoards("p1", kAllRows));
  ASSERT_TRUE(boards);
  ASSERT_EQ(boards->size(), static_cast<size_t>(kThreads * kBoardsPerThread));
  for (const auto& board : *boards) EXPECT_GE(board.last_seen(), 100) << board.id();
}

// ---- Opening a file ----

class SqliteStoreFileTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(SqliteStoreFileTest, ReopenKeepsDataAndDoesNotMigrateAgain) {
  const std::string path = dir_.File("registry.db");
  {
    auto store = OpenSqliteStore(path);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_OK((*store)->CreateProject(MakeProject("p1", "acme")));
    ASSERT_OK((*store)->CreateBoard(MakeBoard("b1", "kitchen", "p1"), "code1", 2000));
    ASSERT_OK((*store)->ConsumeEnrolmentCode("code1", 1500, MakeCredential()));
  }
  {
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
    EXPECT_EQ(raw.execAndGet("PRAGMA user_version").getInt(), static_cast<int>(RegistryMigrations().size()));
    auto report = [&] {
      SQLite::Database rw(path, SQLite::OPEN_READWRITE);
      return ApplyMigrations(rw);
    }();
    ASSERT_TRUE(report);
    EXPECT_EQ(report->applied, 0);
  }
  auto store = OpenSqliteStore(path);
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_EQ((*store)->GetProject("p1")->name(), "acme");
  EXPECT_EQ((*store)->GetBoard("b1")->enrolled_at(), 1500);
  EXPECT_TRUE((*store)->GetBoardCredential("b1"));
}

TEST_F(SqliteStoreFileTest, NewerSchemaIsRefused) {
  const std::string path = dir_.File("future.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("PRAGMA user_version = 99");
  }
  auto store = OpenSqliteStore(path);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::kInternal);
  EXPECT_EQ(store.error().message, "database schema v99 is newer than this conductor (v" +
                                       std::to_string(RegistryMigrations().size()) + ")");
}

TEST_F(SqliteStoreFileTest, UnusableFilesAreInternal) {
  {
    std::ofstream junk(dir_.File("junk.db"));
    junk << "this is not a database, just some text that is long enough to have a header";
  }
  auto junk = OpenSqliteStore(dir_.File("junk.db"));
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, ErrorCode::kInternal);
  auto missing_dir = OpenSqliteStore(dir_.File("no/such/dir/registry.db"));
  ASSERT_FALSE(missing_dir);
  EXPECT_EQ(missing_dir.error().code, ErrorCode::kInternal);
  EXPECT_THAT(missing_dir.error().message, HasSubstr("no/such/dir/registry.db"));
}

}  // namespace
}  // namespace ew::registry
