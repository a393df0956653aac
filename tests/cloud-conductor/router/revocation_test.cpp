// Router::Revoke: a revoked or expired token, or a deleted user, ends the live WAMP sessions
// opened with it (GOODBYE with the reason URI, then the connection closes), and no other.
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "cloud-conductor/router/router.hpp"
#include "common/ids/ids.hpp"
#include "tests/support/fake_transport.hpp"

namespace ew::router {
namespace {

using testing::FakeTransport;

// Tokens answer at once, unless `hold` is set: then the answer waits in `held` (a check that
// is still reading the store).
class TokenDirectory final : public Directory {
 public:
  // One board, brd-a of prj-a, secret "board-secret".
  void LookupBoard(const std::string& id, std::function<void(Result<BoardIdentity>)> done) override {
    if (id != "brd-a") return done(NotFound("no such board"));
    BoardIdentity identity;
    identity.project_id = "prj-a";
    identity.credential.set_board_id(id);
    identity.credential.set_salt("salt");
    identity.credential.set_iterations(10);
    identity.credential.set_keylen(32);
    identity.credential.set_derived_key(ids::WampCraDeriveKey("board-secret", "salt", 10, 32));
    done(identity);
  }
  void VerifyToken(const std::string& token, std::function<void(Result<auth::Principal>)> done) override {
    auto it = tokens.find(token);
    Result<auth::Principal> answer = it == tokens.end() ? Result<auth::Principal>(Unauthenticated("bad token"))
                                                        : Result<auth::Principal>(it->second);
    if (hold) {
      held = [done, answer] { done(answer); };
      return;
    }
    done(answer);
  }
  void BoardProject(const std::string&, std::function<void(Result<std::string>)> done) override {
    done(NotFound("no boards here"));
  }
  void BoardSeen(const std::string&) override {}

  std::map<std::string, auth::Principal> tokens = {
      {"ewt_alice_1", {"usr-alice", "alice", "prj-a", auth::Role::kOperator, "tok-a1", 0}},
      {"ewt_alice_2", {"usr-alice", "alice", "prj-a", auth::Role::kOperator, "tok-a2", 0}},
      {"ewt_bob", {"usr-bob", "bob", "prj-b", auth::Role::kOperator, "tok-b", 0}},
      {"ewt_root", {"usr-root", "root", "prj-a", auth::Role::kAdmin, "tok-r", 0}},
  };
  bool hold = false;
  std::function<void()> held;
};

class RevocationTest : public ::testing::Test {
 protected:
  RevocationTest() : router_(io_.get_executor(), RouterConfig{}, directory_, metrics_) {}

  struct Client {
    std::shared_ptr<FakeTransport> transport;
    std::shared_ptr<TransportHandler> handler;
  };

  Client Join(const std::string& token, bool expect_welcome = true) {
    Client c;
    c.transport = std::make_shared<FakeTransport>();
    c.handler = router_.Attach(c.transport);
    wamp::Hello hello;
    hello.realm = "edgewire";
    hello.details = {{"authmethods", {"ticket"}}, {"roles", {{"caller", wamp::Value::object()}}}};
    c.handler->OnFrame(wamp::Encode(c.transport->serializer(), hello));
    c.transport->Next<wamp::Challenge>();
    wamp::Authenticate auth;
    auth.signature = token;
    c.handler->OnFrame(wamp::Encode(c.transport->serializer(), auth));
    if (expect_welcome) c.transport->Next<wamp::Welcome>();
    return c;
  }

  void Revoke(auth::Revocation::Kind kind, const std::string& id, const std::string& uri = "ew.close.revoked") {
    auth::Revocation r;
    r.kind = kind;
    r.id = id;
    r.reason_uri = uri;
    r.message = "revoked in a test";
    router_.Revoke(r);
    io_.poll();
    io_.restart();
  }

  static void ExpectGoodbye(Client& c, const std::string& uri) {
    auto goodbye = c.transport->Next<wamp::Goodbye>();
    EXPECT_EQ(goodbye.reason, uri);
    EXPECT_EQ(goodbye.details["message"], "revoked in a test");
    EXPECT_TRUE(c.transport->closed);
  }

  boost::asio::io_context io_;
  TokenDirectory directory_;
  metrics::Registry metrics_;
  Router router_;
};

TEST_F(RevocationTest, ARevokedTokenEndsItsSessionsAndNoOther) {
  auto a1 = Join("ewt_alice_1");
  auto a1_again = Join("ewt_alice_1");
  auto a2 = Join("ewt_alice_2");
  auto bob = Join("ewt_bob");
  ASSERT_EQ(router_.SessionCount(), 4u);
  Revoke(auth::Revocation::Kind::kToken, "tok-a1");
  ExpectGoodbye(a1, "ew.close.revoked");
  ExpectGoodbye(a1_again, "ew.close.revoked");
  EXPECT_FALSE(a2.transport->closed) << "another token of the same user stays";
  EXPECT_FALSE(bob.transport->closed);
  EXPECT_EQ(router_.SessionCount(), 2u);
}

TEST_F(RevocationTest, ADeletedUserLosesEverySession) {
  auto a1 = Join("ewt_alice_1");
  auto a2 = Join("ewt_alice_2");
  auto root = Join("ewt_root");
  Revoke(auth::Revocation::Kind::kUser, "usr-alice");
  ExpectGoodbye(a1, "ew.close.revoked");
  ExpectGoodbye(a2, "ew.close.revoked");
  EXPECT_FALSE(root.transport->closed);
  EXPECT_EQ(router_.SessionCount(), 1u);
}

TEST_F(RevocationTest, AnExpiredTokenClosesWithItsOwnReason) {
  auto bob = Join("ewt_bob");
  Revoke(auth::Revocation::Kind::kToken, "tok-b", "ew.close.token_expired");
  ExpectGoodbye(bob, "ew.close.token_expired");
}

TEST_F(RevocationTest, ASessionThatAlreadyLeftIsNotTouched) {
  auto bob = Join("ewt_bob");
  bob.handler->OnClose();
  Revoke(auth::Revocation::Kind::kToken, "tok-b");
  EXPECT_TRUE(bob.transport->frames.empty());
  EXPECT_EQ(router_.SessionCount(), 0u);
}

TEST_F(RevocationTest, ADeletedBoardGetsGoodbyeAndNoUserRevocationTouchesIt) {
  Client board;
  board.transport = std::make_shared<FakeTransport>(wamp::Serializer::kMsgpack);
  board.handler = router_.Attach(board.transport);
  wamp::Hello hello;
  hello.realm = "edgewire";
  hello.details = {{"authmethods", {"wampcra"}}, {"authid", "brd-a"}, {"roles", {{"callee", wamp::Value::object()}}}};
  board.handler->OnFrame(wamp::Encode(board.transport->serializer(), hello));
  auto challenge = board.transport->Next<wamp::Challenge>();
  wamp::Authenticate auth;
  auth.signature = ids::WampCraSign(ids::WampCraDeriveKey("board-secret", "salt", 10, 32),
                                    challenge.extra["challenge"].get<std::string>());
  board.handler->OnFrame(wamp::Encode(board.transport->serializer(), auth));
  board.transport->Next<wamp::Welcome>();
  wamp::Call ready;  // the agent's ew.conductor.board.ready: online from here on
  ready.request = 1;
  ready.procedure = "ew.conductor.board.ready";
  board.handler->OnFrame(wamp::Encode(board.transport->serializer(), ready));
  board.transport->Next<wamp::Result>();
  ASSERT_TRUE(router_.Presence("brd-a"));
  Revoke(auth::Revocation::Kind::kUser, "brd-a");
  EXPECT_FALSE(board.transport->closed) << "boards hold no token: user revocations pass them by";
  router_.DisconnectBoard("brd-a");
  io_.poll();
  auto goodbye = board.transport->Next<wamp::Goodbye>();
  EXPECT_EQ(goodbye.reason, "ew.close.board_deleted");
  EXPECT_TRUE(board.transport->closed);
  EXPECT_FALSE(router_.Presence("brd-a"));
}

TEST_F(RevocationTest, ABoardDeletedWhileItAuthenticatesIsNotLetIn) {
  Client board;
  board.transport = std::make_shared<FakeTransport>(wamp::Serializer::kMsgpack);
  board.handler = router_.Attach(board.transport);
  wamp::Hello hello;
  hello.realm = "edgewire";
  hello.details = {{"authmethods", {"wampcra"}}, {"authid", "brd-a"}, {"roles", {{"callee", wamp::Value::object()}}}};
  board.handler->OnFrame(wamp::Encode(board.transport->serializer(), hello));
  auto challenge = board.transport->Next<wamp::Challenge>();
  router_.DisconnectBoard("brd-a");  // deleted after its credential was read
  io_.poll();
  io_.restart();
  wamp::Authenticate auth;
  auth.signature = ids::WampCraSign(ids::WampCraDeriveKey("board-secret", "salt", 10, 32),
                                    challenge.extra["challenge"].get<std::string>());
  board.handler->OnFrame(wamp::Encode(board.transport->serializer(), auth));
  board.transport->Next<wamp::Welcome>();
  auto goodbye = board.transport->Next<wamp::Goodbye>();
  EXPECT_EQ(goodbye.reason, "ew.close.board_deleted");
  EXPECT_TRUE(board.transport->closed);
  EXPECT_FALSE(router_.Presence("brd-a"));
  EXPECT_EQ(router_.SessionCount(), 0u);
}

TEST_F(RevocationTest, ATokenRevokedWhileItWasBeingCheckedOpensNoSession) {
  directory_.hold = true;
  auto late = Join("ewt_alice_1", /*expect_welcome=*/false);
  ASSERT_TRUE(directory_.held);
  Revoke(auth::Revocation::Kind::kToken, "tok-a1");
  directory_.held();  // the check read the store before the revocation
  auto abort = late.transport->Next<wamp::Abort>();
  EXPECT_EQ(abort.reason, "wamp.error.authentication_failed");
  EXPECT_TRUE(late.transport->closed);
  EXPECT_EQ(router_.SessionCount(), 0u);
  // Another token is not affected.
  directory_.hold = false;
  Join("ewt_alice_2");
}

}  // namespace
}  // namespace ew::router
