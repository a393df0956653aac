#include "cloud-conductor/auth/authenticator.hpp"

#include <functional>
#include <utility>

#include <gtest/gtest.h>

#include "cloud-conductor/registry/migrations.hpp"
#include "cloud-conductor/registry/sqlite_connection.hpp"
#include "cloud-conductor/registry/sqlite_store.hpp"
#include "common/ids/ids.hpp"

namespace ew::auth {
namespace {

using namespace std::chrono_literals;

// Project prj-1 ("alpha") and its users, with the password "open sesame" (a cheap hash).
void AddProject(registry::Store& store) {
  edgewire::v1::Project project;
  project.set_id("prj-1");
  project.set_name("alpha");
  ASSERT_TRUE(store.CreateProject(project));
}
void AddUser(registry::Store& store, const std::string& id, const std::string& name, const std::string& role) {
  edgewire::v1::User user;
  user.set_id(id);
  user.set_name(name);
  user.set_project_id("prj-1");
  user.set_role(role);
  ASSERT_TRUE(store.CreateUser(user, ids::HashPassword("open sesame", 1000)));
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  static std::unique_ptr<registry::Store> OpenStore() {
    auto store = registry::OpenSqliteStore(":memory:");
    if (!store) throw std::runtime_error(store.error().message);
    return std::move(*store);
  }

  AuthenticatorTest() {
    AddProject(*store_);
    AddUser(*store_, "usr-1", "alice", "operator");
  }

  ManualClock clock_;
  std::unique_ptr<registry::Store> store_ = OpenStore();
  Authenticator auth_{*store_, clock_, 1h};
};

TEST_F(AuthenticatorTest, IssuedTokenVerifies) {
  auto issued = auth_.IssueToken("alice", "open sesame", 0s);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->token.rfind("ewt_", 0), 0u);
  EXPECT_EQ(issued->record.expires_at() - issued->record.created_at(), 3600);
  EXPECT_EQ(issued->user.name(), "alice");

  auto who = auth_.VerifyToken(issued->token);
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->user_id, "usr-1");
  EXPECT_EQ(who->name, "alice");
  EXPECT_EQ(who->project_id, "prj-1");
  EXPECT_FALSE(who->is_admin());
  EXPECT_EQ(who->role, Role::kOperator);
}

TEST_F(AuthenticatorTest, StoredAdminRoleMakesAnAdmin) {
  AddUser(*store_, "usr-2", "root", "admin");
  auto issued = auth_.IssueToken("root", "open sesame", 0s);
  ASSERT_TRUE(issued) << issued.error().message;
  auto who = auth_.VerifyToken(issued->token);
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->role, Role::kAdmin);
  EXPECT_TRUE(who->is_admin());
}

// REST never stores another role, but a row written by something else must grant nothing.
TEST_F(AuthenticatorTest, UnknownStoredRoleFailsClosed) {
  AddUser(*store_, "usr-3", "odd", "viewer");
  auto issued = auth_.IssueToken("odd", "open sesame", 0s);
  ASSERT_TRUE(issued) << issued.error().message;
  auto who = auth_.VerifyToken(issued->token);
  ASSERT_FALSE(who);
  EXPECT_EQ(who.error().code, ErrorCode::kInternal);
  EXPECT_NE(who.error().message.find("viewer"), std::string::npos);
}

TEST_F(AuthenticatorTest, StoreKeepsOnlyTheHash) {
  auto issued = auth_.IssueToken("alice", "open sesame", 0s);
  ASSERT_TRUE(issued);
  EXPECT_TRUE(store_->FindToken(ids::Sha256Hex(issued->token), UnixSeconds(clock_.Now())));
  EXPECT_FALSE(store_->FindToken(issued->token, UnixSeconds(clock_.Now())));
}

TEST_F(AuthenticatorTest, WrongPasswordAndUnknownUserLookTheSame) {
  auto wrong = auth_.IssueToken("alice", "nope", 0s);
  auto unknown = auth_.IssueToken("mallory", "nope", 0s);
  ASSERT_FALSE(wrong);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(unknown.error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(wrong.error().message, unknown.error().message);
}

TEST_F(AuthenticatorTest, TtlLimits) {
  EXPECT_EQ(auth_.IssueToken("alice", "open sesame", -1s).error().code, ErrorCode::kInvalidArgument);
  auto longer = auth_.IssueToken("alice", "open sesame", 1h + 1s);
  ASSERT_FALSE(longer);
  EXPECT_EQ(longer.error().code, ErrorCode::kInvalidArgument) << "longer than the configured lifetime";
  EXPECT_NE(longer.error().message.find("3600"), std::string::npos) << longer.error().message;
  auto longest = auth_.IssueToken("alice", "open sesame", 1h);
  ASSERT_TRUE(longest);
  auto shorter = auth_.IssueToken("alice", "open sesame", 60s);
  ASSERT_TRUE(shorter);
  EXPECT_EQ(shorter->record.expires_at() - shorter->record.created_at(), 60);
}

TEST_F(AuthenticatorTest, LifetimeZeroMeansTokensNeverExpire) {
  Authenticator forever(*store_, clock_, 0s);
  auto issued = forever.IssueToken("alice", "open sesame", 0s);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->record.expires_at(), 0);
  clock_.Advance(24h * 3650);
  auto who = forever.VerifyToken(issued->token);
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->token_expires_at, 0);
  // A caller may still ask for a lifetime, up to 30 days.
  auto asked = forever.IssueToken("alice", "open sesame", 600s);
  ASSERT_TRUE(asked);
  EXPECT_EQ(asked->record.expires_at() - asked->record.created_at(), 600);
  EXPECT_FALSE(forever.IssueToken("alice", "open sesame", 24h * 30 + 1s));
}

TEST_F(AuthenticatorTest, PrincipalCarriesTheTokenAndItsExpiry) {
  auto issued = auth_.IssueToken("alice", "open sesame", 0s);
  ASSERT_TRUE(issued);
  auto who = auth_.VerifyToken(issued->token);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->token_id, issued->record.id());
  EXPECT_EQ(who->token_expires_at, issued->record.expires_at());
  EXPECT_EQ(who->token_expires_at, UnixSeconds(clock_.Now()) + 3600);
}

TEST_F(AuthenticatorTest, TokenExpires) {
  auto issued = auth_.IssueToken("alice", "open sesame", 10s);
  ASSERT_TRUE(issued);
  clock_.Advance(9s);
  EXPECT_TRUE(auth_.VerifyToken(issued->token));
  clock_.Advance(1s);
  auto expired = auth_.VerifyToken(issued->token);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, MalformedTokensAreUnauthenticated) {
  for (const std::string token : {std::string(), std::string("ewt_"), std::string("abc"),
                                  std::string("ewt_nothing-like-this"), "ewt_" + std::string(200, 'a')}) {
    auto who = auth_.VerifyToken(token);
    ASSERT_FALSE(who) << token;
    EXPECT_EQ(who.error().code, ErrorCode::kUnauthenticated) << token;
  }
}

TEST_F(AuthenticatorTest, RevokedTokenNoLongerVerifies) {
  auto issued = auth_.IssueToken("alice", "open sesame", 0s);
  ASSERT_TRUE(issued);
  auto revoked = auth_.RevokeToken(issued->token);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(*revoked, issued->record.id());
  EXPECT_FALSE(auth_.VerifyToken(issued->token));
  EXPECT_EQ(auth_.RevokeToken(issued->token).error().code, ErrorCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, DeletedUserLosesItsTokens) {
  auto issued = auth_.IssueToken("alice", "open sesame", 0s);
  ASSERT_TRUE(issued);
  ASSERT_TRUE(store_->DeleteUser("usr-1"));
  EXPECT_EQ(auth_.VerifyToken(issued->token).error().code, ErrorCode::kUnauthenticated);
}

// What the store said is used for kVerifiedFor: a row deleted behind the Authenticator's back
// (which the conductor never does) still verifies until then, and not after.
TEST_F(AuthenticatorTest, AVerifiedTokenIsRememberedForAWhile) {
  auto issued = auth_.IssueToken("alice", "open sesame", 0s);
  ASSERT_TRUE(issued);
  EXPECT_FALSE(auth_.VerifiedRecently(issued->token)) << "never verified yet";
  ASSERT_TRUE(auth_.VerifyToken(issued->token));
  auto recalled = auth_.VerifiedRecently(issued->token);
  ASSERT_TRUE(recalled);
  EXPECT_EQ(recalled->user_id, "usr-1");
  EXPECT_EQ(recalled->token_id, issued->record.id());
  ASSERT_TRUE(store_->DeleteToken(issued->record.id()));
  EXPECT_TRUE(auth_.VerifyToken(issued->token)) << "answered from memory";
  clock_.Advance(Authenticator::kVerifiedFor);
  EXPECT_FALSE(auth_.VerifiedRecently(issued->token));
  EXPECT_EQ(auth_.VerifyToken(issued->token).error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(auth_.VerifiedRecently("ewt_not-a-token"));
  EXPECT_FALSE(auth_.VerifiedRecently(""));
}

TEST_F(AuthenticatorTest, ARevokedTokenIsForgottenAtOnce) {
  auto issued = auth_.IssueToken("alice", "open sesame", 0s);
  auto other = auth_.IssueToken("alice", "open sesame", 0s);
  ASSERT_TRUE(issued && other);
  ASSERT_TRUE(auth_.VerifyToken(issued->token));
  ASSERT_TRUE(auth_.VerifyToken(other->token));
  ASSERT_TRUE(auth_.RevokeToken(issued->token));
  EXPECT_FALSE(auth_.VerifiedRecently(issued->token));
  EXPECT_EQ(auth_.VerifyToken(issued->token).error().code, ErrorCode::kUnauthenticated);
  EXPECT_TRUE(auth_.VerifiedRecently(other->token)) << "the user's other token is still good";
}

TEST_F(AuthenticatorTest, ADeletedUsersTokensAreForgottenAtOnce) {
  AddUser(*store_, "usr-2", "bob", "operator");
  auto alices = auth_.IssueToken("alice", "open sesame", 0s);
  auto bobs = auth_.IssueToken("bob", "open sesame", 0s);
  ASSERT_TRUE(alices && bobs);
  ASSERT_TRUE(auth_.VerifyToken(alices->token));
  ASSERT_TRUE(auth_.VerifyToken(bobs->token));
  ASSERT_TRUE(auth_.DeleteUser("usr-1"));
  EXPECT_FALSE(auth_.VerifiedRecently(alices->token));
  EXPECT_EQ(auth_.VerifyToken(alices->token).error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(store_->GetUser("usr-1"));
  EXPECT_TRUE(auth_.VerifiedRecently(bobs->token));
  EXPECT_EQ(auth_.DeleteUser("usr-1").error().code, ErrorCode::kNotFound);
}

// A store whose GetUser (a token check's last read) runs a hook once, after its read: what
// another thread does between a check's store reads and its answer.
class HookedStore : public registry::SqliteStore {
 public:
  using SqliteStore::SqliteStore;
  Result<edgewire::v1::User> GetUser(const std::string& id) override {
    auto found = SqliteStore::GetUser(id);
    if (auto hook = std::exchange(after_read, nullptr)) hook();
    return found;
  }
  std::function<void()> after_read;
};

// A check that read the store before a revocation answers as it read (the request raced the
// revocation), but does not put its answer back into memory for the requests after it.
TEST(AuthenticatorRaceTest, ACheckThatReadTheStoreBeforeARevocationIsNotRemembered) {
  SQLite::Database db = registry::OpenSqliteDatabase(":memory:");
  ASSERT_TRUE(registry::ApplyMigrations(db));
  HookedStore store(std::move(db));
  AddProject(store);
  AddUser(store, "usr-1", "alice", "operator");
  ManualClock clock;
  Authenticator auth(store, clock, 1h);
  for (const bool delete_user : {false, true}) {
    SCOPED_TRACE(delete_user ? "user deleted" : "token revoked");
    auto issued = auth.IssueToken("alice", "open sesame", 0s);
    ASSERT_TRUE(issued);
    store.after_read = [&] {
      if (delete_user) {
        ASSERT_TRUE(auth.DeleteUser("usr-1"));
      } else {
        ASSERT_TRUE(auth.RevokeToken(issued->token));
      }
    };
    EXPECT_TRUE(auth.VerifyToken(issued->token));
    EXPECT_FALSE(auth.VerifiedRecently(issued->token));
    EXPECT_EQ(auth.VerifyToken(issued->token).error().code, ErrorCode::kUnauthenticated);
  }
}

TEST_F(AuthenticatorTest, ARememberedTokenStillExpiresOnTime) {
  auto issued = auth_.IssueToken("alice", "open sesame", 5s);
  ASSERT_TRUE(issued);
  ASSERT_TRUE(auth_.VerifyToken(issued->token));
  clock_.Advance(4s);
  EXPECT_TRUE(auth_.VerifiedRecently(issued->token));
  clock_.Advance(1s);
  EXPECT_FALSE(auth_.VerifiedRecently(issued->token));
  EXPECT_EQ(auth_.VerifyToken(issued->token).error().code, ErrorCode::kUnauthenticated);
}

TEST(RoleTest, OneStringEachBothWays) {
  EXPECT_STREQ(RoleName(Role::kAdmin), "admin");
  EXPECT_STREQ(RoleName(Role::kOperator), "operator");
  EXPECT_STREQ(RoleName(Role::kBoard), "board");
  EXPECT_STREQ(RoleName(Role::kNone), "anonymous");
  for (Role role : {Role::kAdmin, Role::kOperator}) EXPECT_EQ(ParseUserRole(RoleName(role)), role);
  // Boards and anonymous sessions are not user roles; nor is anything else.
  EXPECT_FALSE(ParseUserRole("board"));
  EXPECT_FALSE(ParseUserRole("anonymous"));
  EXPECT_FALSE(ParseUserRole("Admin"));
  EXPECT_FALSE(ParseUserRole(""));
}

TEST(CanAccessProjectTest, AdminEverywhereOperatorAtHome) {
  Principal admin{"u1", "root", "prj-1", Role::kAdmin, "", 0};
  Principal op{"u2", "alice", "prj-1", Role::kOperator, "", 0};
  Principal homeless{"u3", "bob", "", Role::kOperator, "", 0};
  EXPECT_TRUE(Authenticator::CanAccessProject(admin, "prj-2"));
  EXPECT_TRUE(Authenticator::CanAccessProject(op, "prj-1"));
  EXPECT_FALSE(Authenticator::CanAccessProject(op, "prj-2"));
  EXPECT_FALSE(Authenticator::CanAccessProject(homeless, ""));
}

}  // namespace
}  // namespace ew::auth
