// The router driven through in-memory transports and a fake directory: authentication, the
// dealer, the broker, authorization and malformed input, with no sockets.
#include "cloud-conductor/router/router.hpp"

#include <optional>
#include <set>
#include <tuple>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "common/ids/ids.hpp"
#include "tests/support/fake_transport.hpp"

namespace ew::router {
namespace {

using testing::FakeTransport;
using wamp::Serializer;
using wamp::Value;

constexpr char kSecret[] = "board-secret";

class FakeDirectory final : public Directory {
 public:
  FakeDirectory() {
    AddBoard("brd-a", "proj-a");
    AddBoard("brd-b", "proj-b");
    tokens["tok-admin"] = auth::Principal{"u1", "admin", "default", auth::Role::kAdmin, "", 0};
    tokens["tok-alice"] = auth::Principal{"u2", "alice", "proj-a", auth::Role::kOperator, "", 0};
    tokens["tok-bob"] = auth::Principal{"u3", "bob", "proj-b", auth::Role::kOperator, "", 0};
  }
  void AddBoard(const std::string& id, const std::string& project) {
    BoardIdentity identity;
    identity.project_id = project;
    identity.credential.set_board_id(id);
    identity.credential.set_salt("salt-" + id);
    identity.credential.set_iterations(10);
    identity.credential.set_keylen(32);
    identity.credential.set_derived_key(ids::WampCraDeriveKey(kSecret, "salt-" + id, 10, 32));
    boards[id] = identity;
  }
  void LookupBoard(const std::string& id, std::function<void(Result<BoardIdentity>)> done) override {
    auto it = boards.find(id);
    if (it == boards.end()) return done(NotFound("no board"));
    done(it->second);
  }
  void VerifyToken(const std::string& token, std::function<void(Result<auth::Principal>)> done) override {
    auto it = tokens.find(token);
    if (it == tokens.end()) return done(Unauthenticated("bad token"));
    done(it->second);
  }
  void BoardProject(const std::string& id, std::function<void(Result<std::string>)> done) override {
    auto it = boards.find(id);
    if (it == boards.end()) return done(NotFound("no board"));
    done(it->second.project_id);
  }
  void BoardSeen(const std::string& id) override { seen.push_back(id); }

  std::map<std::string, BoardIdentity> boards;
  std::map<std::string, auth::Principal> tokens;
  std::vector<std::string> seen;
};

class RouterTest : public ::testing::Test {
 protected:
  struct Client {
    std::shared_ptr<FakeTransport> transport;
    std::shared_ptr<TransportHandler> handler;
    wamp::Id session = 0;
    void Feed(const wamp::Message& m) { handler->OnFrame(wamp::Encode(transport->serializer(), m)); }
    void FeedRaw(std::string_view frame) { handler->OnFrame(frame); }
  };

  RouterTest() : router_(io_.get_executor(), RouterConfig{}, directory_, metrics_) {}

  Client Connect(Serializer serializer = Serializer::kJson) {
    Client c;
    c.transport = std::make_shared<FakeTransport>(serializer);
    c.handler = router_.Attach(c.transport);
    return c;
  }

  Client JoinBoard(const std::string& id, Serializer serializer = Serializer::kMsgpack,
                   const std::string& secret = kSecret) {
    Client c = Connect(serializer);
    wamp::Hello hello;
    hello.realm = "edgewire";
    hello.details = {{"authmethods", {"wampcra"}}, {"authid", id}, {"roles", {{"callee", Value::object()}}}};
    c.Feed(hello);
    auto challenge = c.transport->Next<wamp::Challenge>();
    EXPECT_EQ(challenge.auth_method, "wampcra");
    auto key = ids::WampCraDeriveKey(secret, challenge.extra["salt"].get<std::string>(),
                                     challenge.extra["iterations"].get<int>(), challenge.extra["keylen"].get<int>());
    wamp::Authenticate auth;
    auth.signature = ids::WampCraSign(key, challenge.extra["challenge"].get<std::string>());
    c.Feed(auth);
    return c;
  }

  Client JoinUser(const std::string& token, Serializer serializer = Serializer::kJson) {
    Client c = Connect(serializer);
    wamp::Hello hello;
    hello.realm = "edgewire";
    hello.details = {{"authmethods", {"ticket"}},
                     {"authid", "whoever"},
                     {"roles", {{"callee", {{"features", {{"call_canceling", true}}}}}}}};
    c.Feed(hello);
    c.transport->Next<wamp::Challenge>();
    wamp::Authenticate auth;
    auth.signature = token;
    c.Feed(auth);
    return c;
  }

  static wamp::Id Welcomed(Client& c) {
    auto welcome = c.transport->Next<wamp::Welcome>();
    c.session = welcome.session;
    return welcome.session;
  }

  // What the agent does once its procedures are registered: the board is online from here on.
  static void Ready(Client& c, wamp::Id request = 900) {
    wamp::Call ready;
    ready.request = request;
    ready.procedure = "ew.conductor.board.ready";
    c.Feed(ready);
    EXPECT_EQ(c.transport->Next<wamp::Result>().request, request);
  }

  wamp::Id Register(Client& c, const std::string& procedure, wamp::Id request = 1) {
    wamp::Register reg;
    reg.request = request;
    reg.procedure = procedure;
    c.Feed(reg);
    return c.transport->Next<wamp::Registered>().registration;
  }

  boost::asio::io_context io_;
  FakeDirectory directory_;
  metrics::Registry metrics_;
  Router router_;
};

TEST_F(RouterTest, BoardJoinsWithWampCraAndIsPresent) {
  auto board = JoinBoard("brd-a");
  auto welcome = board.transport->Next<wamp::Welcome>();
  EXPECT_EQ(welcome.details["authrole"], "board");
  EXPECT_EQ(welcome.details["authid"], "brd-a");
  // Joined is not online: not before the agent says its procedures are registered (issue 14).
  EXPECT_FALSE(router_.Presence("brd-a"));
  Ready(board);
  ASSERT_TRUE(router_.Presence("brd-a"));
  EXPECT_EQ(router_.Presence("brd-a")->session_id, welcome.session);
  EXPECT_FALSE(router_.Presence("brd-b"));
}

// WELCOME tells a peer the heartbeat its transport holds it to (docs/ARCHITECTURE.md, WAMP, "Heartbeat"),
// and says nothing of one when the transport has none.
TEST_F(RouterTest, WelcomeCarriesTheTransportsHeartbeatTerms) {
  Client board = Connect(Serializer::kMsgpack);
  board.transport->heartbeat_terms = wamp::HeartbeatTerms{std::chrono::milliseconds(3800), std::chrono::milliseconds(7600)};
  wamp::Hello hello;
  hello.realm = "edgewire";
  hello.details = {{"authmethods", {"wampcra"}}, {"authid", "brd-a"}, {"roles", {{"callee", Value::object()}}}};
  board.Feed(hello);
  auto challenge = board.transport->Next<wamp::Challenge>();
  auto key = ids::WampCraDeriveKey(kSecret, challenge.extra["salt"].get<std::string>(),
                                   challenge.extra["iterations"].get<int>(), challenge.extra["keylen"].get<int>());
  wamp::Authenticate auth;
  auth.signature = ids::WampCraSign(key, challenge.extra["challenge"].get<std::string>());
  board.Feed(auth);
  auto welcome = board.transport->Next<wamp::Welcome>();
  EXPECT_EQ(welcome.details["x_heartbeat"], (Value{{"interval_ms", 3800}, {"timeout_ms", 7600}}));
  EXPECT_EQ(wamp::HeartbeatFromJson(welcome.details["x_heartbeat"]), board.transport->heartbeat_terms);

  auto other = JoinBoard("brd-b");
  EXPECT_FALSE(other.transport->Next<wamp::Welcome>().details.contains("x_heartbeat"));
}

TEST_F(RouterTest, WrongSecretIsRefused) {
  auto board = JoinBoard("brd-a", Serializer::kMsgpack, "not-the-secret");
  auto abort = board.transport->Next<wamp::Abort>();
  EXPECT_EQ(abort.reason, "wamp.error.authentication_failed");
  EXPECT_TRUE(board.transport->closed);
  EXPECT_FALSE(router_.Presence("brd-a"));
}

TEST_F(RouterTest, UnknownBoardIsRefused) {
  auto board = Connect();
  wamp::Hello hello;
  hello.realm = "edgewire";
  hello.details = {{"authmethods", {"wampcra"}}, {"authid", "brd-nope"}};
  board.Feed(hello);
  EXPECT_EQ(board.transport->Next<wamp::Abort>().reason, "wamp.error.authentication_failed");
}

TEST_F(RouterTest, WrongRealmAndNoAuthMethodAreRefused) {
  auto a = Connect();
  wamp::Hello hello;
  hello.realm = "other";
  a.Feed(hello);
  EXPECT_EQ(a.transport->Next<wamp::Abort>().reason, "wamp.error.no_such_realm");
  auto b = Connect();
  hello.realm = "edgewire";
  hello.details = {{"authmethods", {"anonymous"}}};
  b.Feed(hello);
  EXPECT_EQ(b.transport->Next<wamp::Abort>().reason, "wamp.error.no_auth_method");
}

TEST_F(RouterTest, BadTicketIsRefused) {
  auto user = JoinUser("tok-forged");
  EXPECT_EQ(user.transport->Next<wamp::Abort>().reason, "wamp.error.authentication_failed");
}

TEST_F(RouterTest, UserCallsBoardProcedureAcrossSerializers) {
  auto board = JoinBoard("brd-a", Serializer::kMsgpack);
  Welcomed(board);
  auto reg = Register(board, "ew.board.brd-a.sys.ping");
  auto user = JoinUser("tok-alice", Serializer::kJson);
  Welcomed(user);

  wamp::Call call;
  call.request = 7;
  call.procedure = "ew.board.brd-a.sys.ping";
  call.payload.args = {1, "two"};
  call.payload.kwargs = {{"k", true}};
  user.Feed(call);
  auto invocation = board.transport->Next<wamp::Invocation>();
  EXPECT_EQ(invocation.registration, reg);
  EXPECT_EQ(invocation.payload.args, Value({1, "two"}));
  EXPECT_EQ(invocation.payload.kwargs, Value({{"k", true}}));

  wamp::Yield yield;
  yield.request = invocation.request;
  yield.payload.kwargs = {{"pong", 1}};
  board.Feed(yield);
  auto result = user.transport->Next<wamp::Result>();
  EXPECT_EQ(result.request, 7u);
  EXPECT_EQ(result.payload.kwargs["pong"], 1);
}

TEST_F(RouterTest, MsgpackPayloadsPassThroughUnchangedAndAreDecodedForTheConductor) {
  auto board = JoinBoard("brd-a", Serializer::kMsgpack);
  Welcomed(board);
  Register(board, "ew.board.brd-a.sys.ping");
  Ready(board);
  auto user = JoinUser("tok-alice", Serializer::kMsgpack);
  Welcomed(user);
  wamp::Call call;
  call.request = 3;
  call.procedure = "ew.board.brd-a.sys.ping";
  call.payload.args = {1, "two", Value::binary({7, 8})};
  call.payload.kwargs = {{"k", {{"nested", {1, 2}}}}};
  user.Feed(call);
  // The INVOCATION ends with the CALL's payload bytes, as the caller encoded them.
  const std::string call_frame = wamp::Encode(Serializer::kMsgpack, call);
  wamp::Call bare = call;
  bare.payload = {};
  const std::string payload_bytes = call_frame.substr(wamp::Encode(Serializer::kMsgpack, bare).size());
  ASSERT_FALSE(board.transport->frames.empty());
  const std::string invocation_frame = board.transport->frames.front();
  EXPECT_EQ(invocation_frame.substr(invocation_frame.size() - payload_bytes.size()), payload_bytes);
  auto invocation = board.transport->Next<wamp::Invocation>();
  EXPECT_EQ(invocation.payload.args, call.payload.args);
  EXPECT_EQ(invocation.payload.kwargs, call.payload.kwargs);
  // A conductor-internal call reads the board's answer: decoded for it.
  std::optional<Result<wamp::Payload>> answer;
  router_.CallBoard("brd-a", "sys.ping", wamp::Payload{}, std::chrono::seconds(5),
                    [&](Result<wamp::Payload> r) { answer = std::move(r); });
  io_.run_for(std::chrono::milliseconds(20));
  auto internal = board.transport->Next<wamp::Invocation>();
  wamp::Yield yield;
  yield.request = internal.request;
  yield.payload.args = {"pong"};
  yield.payload.kwargs = {{"boardId", "brd-a"}};
  board.Feed(yield);
  io_.run_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->has_value()) << answer->error().message;
  EXPECT_EQ((*answer)->args, Value::array({"pong"}));
  EXPECT_EQ((*answer)->kwargs["boardId"], "brd-a");
}

TEST_F(RouterTest, OneTimerServesCallsWithDifferentDeadlines) {
  auto callee = JoinUser("tok-admin");
  Welcomed(callee);
  Register(callee, "com.example.slow");
  auto caller = JoinUser("tok-admin");
  Welcomed(caller);
  auto call = [&](wamp::Id request, int timeout_ms) {
    wamp::Call c;
    c.request = request;
    c.procedure = "com.example.slow";
    c.options = {{"timeout", timeout_ms}};
    caller.Feed(c);
    return callee.transport->Next<wamp::Invocation>();
  };
  call(1, 400);                // armed first, deadline last
  call(2, 30);                 // an earlier deadline re-arms the timer
  auto answered = call(3, 60);  // answered in time: never times out
  wamp::Yield yield;
  yield.request = answered.request;
  callee.Feed(yield);
  EXPECT_EQ(caller.transport->Next<wamp::Result>().request, 3u);
  io_.run_for(std::chrono::milliseconds(150));
  auto first = caller.transport->Next<wamp::ErrorMessage>();
  EXPECT_EQ(first.request, 2u);
  EXPECT_EQ(first.error, WampErrorUri(ErrorCode::kDeadlineExceeded));
  EXPECT_TRUE(caller.transport->frames.empty()) << "call 1 timed out early or call 3 timed out after its RESULT";
  io_.run_for(std::chrono::milliseconds(400));
  auto last = caller.transport->Next<wamp::ErrorMessage>();
  EXPECT_EQ(last.request, 1u);
  EXPECT_EQ(last.error, WampErrorUri(ErrorCode::kDeadlineExceeded));
  EXPECT_TRUE(caller.transport->frames.empty());
}

TEST_F(RouterTest, BoardMayRegisterOnlyItsOwnPrefix) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  wamp::Register reg;
  reg.request = 1;
  reg.procedure = "ew.board.brd-b.sys.ping";
  board.Feed(reg);
  auto error = board.transport->Next<wamp::ErrorMessage>();
  EXPECT_EQ(error.error, "wamp.error.not_authorized");
  // A prefix that merely starts with the id is not the board's namespace.
  reg.request = 2;
  reg.procedure = "ew.board.brd-ab.sys.ping";
  board.Feed(reg);
  EXPECT_EQ(board.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  // And a board may call only ew.conductor.*.
  wamp::Call call;
  call.request = 3;
  call.procedure = "ew.board.brd-a.sys.ping";
  board.Feed(call);
  EXPECT_EQ(board.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
}

TEST_F(RouterTest, UserOfAnotherProjectIsNotAuthorized) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  Register(board, "ew.board.brd-a.sys.ping");
  auto bob = JoinUser("tok-bob");
  Welcomed(bob);
  wamp::Call call;
  call.request = 1;
  call.procedure = "ew.board.brd-a.sys.ping";
  bob.Feed(call);
  EXPECT_EQ(bob.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  EXPECT_TRUE(board.transport->frames.empty());
  wamp::Subscribe sub;
  sub.request = 2;
  sub.topic = "ew.board.brd-a.status";
  bob.Feed(sub);
  EXPECT_EQ(bob.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
}

TEST_F(RouterTest, CallToMissingProcedureFails) {
  auto user = JoinUser("tok-admin");
  Welcomed(user);
  wamp::Call call;
  call.request = 1;
  call.procedure = "ew.board.brd-a.sys.ping";
  user.Feed(call);
  EXPECT_EQ(user.transport->Next<wamp::ErrorMessage>().error, "wamp.error.no_such_procedure");
}

TEST_F(RouterTest, DuplicateRegistrationIsRefused) {
  auto a = JoinUser("tok-admin");
  Welcomed(a);
  Register(a, "com.example.x");
  auto b = JoinUser("tok-admin");
  Welcomed(b);
  wamp::Register reg;
  reg.request = 9;
  reg.procedure = "com.example.x";
  b.Feed(reg);
  EXPECT_EQ(b.transport->Next<wamp::ErrorMessage>().error, "wamp.error.procedure_already_exists");
}

TEST_F(RouterTest, ProgressiveResultsReachCallersThatAskForThem) {
  auto callee = JoinUser("tok-admin");
  Welcomed(callee);
  Register(callee, "com.example.count");
  auto caller = JoinUser("tok-admin");
  Welcomed(caller);
  wamp::Call call;
  call.request = 5;
  call.procedure = "com.example.count";
  call.options = {{"receive_progress", true}};
  caller.Feed(call);
  auto inv = callee.transport->Next<wamp::Invocation>();
  EXPECT_EQ(inv.details["receive_progress"], true);
  for (int i = 0; i < 3; ++i) {
    wamp::Yield y;
    y.request = inv.request;
    y.options = {{"progress", true}};
    y.payload.args = {i};
    callee.Feed(y);
    auto r = caller.transport->Next<wamp::Result>();
    EXPECT_EQ(r.details["progress"], true);
    EXPECT_EQ(r.payload.args[0], i);
  }
  wamp::Yield last;
  last.request = inv.request;
  last.payload.args = {"done"};
  callee.Feed(last);
  auto r = caller.transport->Next<wamp::Result>();
  EXPECT_FALSE(r.details.contains("progress"));
  EXPECT_EQ(r.payload.args[0], "done");
}

TEST_F(RouterTest, CancelKillNoWaitInterruptsCalleeAndAnswersCaller) {
  auto callee = JoinUser("tok-admin");
  Welcomed(callee);
  Register(callee, "com.example.slow");
  auto caller = JoinUser("tok-admin");
  Welcomed(caller);
  wamp::Call call;
  call.request = 5;
  call.procedure = "com.example.slow";
  caller.Feed(call);
  auto inv = callee.transport->Next<wamp::Invocation>();
  wamp::Cancel cancel;
  cancel.request = 5;
  cancel.options = {{"mode", "killnowait"}};
  caller.Feed(cancel);
  auto interrupt = callee.transport->Next<wamp::Interrupt>();
  EXPECT_EQ(interrupt.request, inv.request);
  EXPECT_EQ(caller.transport->Next<wamp::ErrorMessage>().error, "wamp.error.canceled");
  // The late answer is dropped.
  wamp::Yield y;
  y.request = inv.request;
  callee.Feed(y);
  EXPECT_TRUE(caller.transport->frames.empty());
}

TEST_F(RouterTest, CancelKillWaitsForTheCalleesError) {
  auto callee = JoinUser("tok-admin");
  Welcomed(callee);
  Register(callee, "com.example.slow");
  auto caller = JoinUser("tok-admin");
  Welcomed(caller);
  wamp::Call call;
  call.request = 5;
  call.procedure = "com.example.slow";
  caller.Feed(call);
  auto inv = callee.transport->Next<wamp::Invocation>();
  wamp::Cancel cancel;
  cancel.request = 5;
  caller.Feed(cancel);
  EXPECT_EQ(callee.transport->Next<wamp::Interrupt>().options["mode"], "kill");
  EXPECT_TRUE(caller.transport->frames.empty());
  wamp::ErrorMessage err;
  err.request_type = wamp::MessageType::kInvocation;
  err.request = inv.request;
  err.error = "wamp.error.canceled";
  callee.Feed(err);
  EXPECT_EQ(caller.transport->Next<wamp::ErrorMessage>().error, "wamp.error.canceled");
}

TEST_F(RouterTest, CallTimesOutAndInterruptsCallee) {
  auto callee = JoinUser("tok-admin");
  Welcomed(callee);
  Register(callee, "com.example.slow");
  auto caller = JoinUser("tok-admin");
  Welcomed(caller);
  wamp::Call call;
  call.request = 5;
  call.procedure = "com.example.slow";
  call.options = {{"timeout", 20}};
  caller.Feed(call);
  auto inv = callee.transport->Next<wamp::Invocation>();
  io_.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(callee.transport->Next<wamp::Interrupt>().request, inv.request);
  EXPECT_EQ(caller.transport->Next<wamp::ErrorMessage>().error, WampErrorUri(ErrorCode::kDeadlineExceeded));
}

TEST_F(RouterTest, CalleesThatCannotCancelGetNoInterrupt) {
  // Boards (Autobahn|Cpp) do not announce call_canceling: a timeout must not send them INTERRUPT.
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  Register(board, "ew.board.brd-a.sys.slow");
  auto user = JoinUser("tok-alice");
  Welcomed(user);
  wamp::Call call;
  call.request = 1;
  call.procedure = "ew.board.brd-a.sys.slow";
  call.options = {{"timeout", 10}};
  user.Feed(call);
  board.transport->Next<wamp::Invocation>();
  io_.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(user.transport->Next<wamp::ErrorMessage>().error, WampErrorUri(ErrorCode::kDeadlineExceeded));
  EXPECT_TRUE(board.transport->frames.empty());
}

TEST_F(RouterTest, OperatorCallsToUnseenBoardsAreCheckedAgainstTheRegistry) {
  // No board has connected: the router must ask which project brd-b belongs to, not assume.
  auto admin = JoinUser("tok-admin");
  Welcomed(admin);
  Register(admin, "ew.board.brd-b.sys.ping");  // something answers under brd-b's prefix
  auto alice = JoinUser("tok-alice");
  Welcomed(alice);
  wamp::Call call;
  call.request = 1;
  call.procedure = "ew.board.brd-b.sys.ping";
  alice.Feed(call);
  EXPECT_EQ(alice.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  EXPECT_TRUE(admin.transport->frames.empty());
  // Her own project's board, offline: allowed, and simply not there.
  call.request = 2;
  call.procedure = "ew.board.brd-a.sys.ping";
  alice.Feed(call);
  EXPECT_EQ(alice.transport->Next<wamp::ErrorMessage>().error, "wamp.error.no_such_procedure");
  // Unknown boards are refused too.
  call.request = 3;
  call.procedure = "ew.board.brd-zzz.sys.ping";
  alice.Feed(call);
  EXPECT_EQ(alice.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
}

TEST_F(RouterTest, CancelKillOfACalleeThatCannotBeInterruptedAnswersAtOnce) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  Register(board, "ew.board.brd-a.sys.slow");
  auto user = JoinUser("tok-alice");
  Welcomed(user);
  wamp::Call call;
  call.request = 4;
  call.procedure = "ew.board.brd-a.sys.slow";
  user.Feed(call);
  board.transport->Next<wamp::Invocation>();
  wamp::Cancel cancel;
  cancel.request = 4;
  user.Feed(cancel);
  EXPECT_EQ(user.transport->Next<wamp::ErrorMessage>().error, "wamp.error.canceled");
  EXPECT_TRUE(board.transport->frames.empty());
}

TEST_F(RouterTest, AbortBeforeWelcomeClosesTheConnection) {
  auto c = Connect();
  wamp::Abort abort;
  abort.reason = "wamp.close.normal";
  c.Feed(abort);
  EXPECT_TRUE(c.transport->closed);
  EXPECT_EQ(router_.SessionCount(), 0u);
}

TEST_F(RouterTest, PublishedCarriesThePublicationIdOfTheEvents) {
  auto pub = JoinUser("tok-admin");
  Welcomed(pub);
  auto sub = JoinUser("tok-admin");
  Welcomed(sub);
  wamp::Subscribe s1;
  s1.request = 1;
  s1.topic = "com.example.t";
  sub.Feed(s1);
  sub.transport->Next<wamp::Subscribed>();
  wamp::Publish p;
  p.request = 2;
  p.topic = "com.example.t";
  p.options = {{"acknowledge", true}};
  pub.Feed(p);
  EXPECT_EQ(pub.transport->Next<wamp::Published>().publication, sub.transport->Next<wamp::Event>().publication);
}

TEST_F(RouterTest, CallerDisclosureWhenTheCalleeAsks) {
  auto callee = JoinUser("tok-admin");
  Welcomed(callee);
  wamp::Register reg;
  reg.request = 1;
  reg.procedure = "com.example.who";
  reg.options = {{"disclose_caller", true}};
  callee.Feed(reg);
  callee.transport->Next<wamp::Registered>();
  auto caller = JoinUser("tok-alice");
  auto caller_session = Welcomed(caller);
  (void)caller_session;
  // alice (operator) may not call com.example.*; the admin may.
  auto admin = JoinUser("tok-admin");
  auto admin_session = Welcomed(admin);
  wamp::Call call;
  call.request = 2;
  call.procedure = "com.example.who";
  admin.Feed(call);
  auto inv = callee.transport->Next<wamp::Invocation>();
  EXPECT_EQ(inv.details["caller"], admin_session);
  EXPECT_EQ(inv.details["caller_authid"], "admin");
  EXPECT_EQ(inv.details["caller_authrole"], "admin");
}

TEST_F(RouterTest, CalleeLeavingFailsItsPendingCalls) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  Register(board, "ew.board.brd-a.sys.ping");
  auto user = JoinUser("tok-alice");
  Welcomed(user);
  wamp::Call call;
  call.request = 1;
  call.procedure = "ew.board.brd-a.sys.ping";
  user.Feed(call);
  board.transport->Next<wamp::Invocation>();
  board.handler->OnClose();
  // Its own URI (issue 14): the call reached the callee, which may have run it.
  EXPECT_EQ(user.transport->Next<wamp::ErrorMessage>().error, "ew.error.callee_left");
  EXPECT_FALSE(router_.Presence("brd-a"));
}

TEST_F(RouterTest, Issue14ABoardLeavingDuringAGatewayCallAnswersCalleeLeft) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  Register(board, "ew.board.brd-a.fn.invoke");
  Ready(board);
  std::optional<Result<wamp::Payload>> got;
  router_.CallBoard("brd-a", "fn.invoke", {}, std::chrono::seconds(5), [&](Result<wamp::Payload> r) { got = r; });
  io_.run_for(std::chrono::milliseconds(20));
  board.transport->Next<wamp::Invocation>();
  board.handler->OnClose();
  ASSERT_TRUE(got && !*got);
  EXPECT_EQ(got->error().code, ErrorCode::kCalleeLeft) << got->error().message;
}

TEST_F(RouterTest, PubSubExactPrefixAndExcludeMe) {
  auto pub = JoinUser("tok-admin");
  Welcomed(pub);
  auto exact = JoinUser("tok-admin");
  Welcomed(exact);
  auto prefix = JoinUser("tok-admin", Serializer::kMsgpack);
  Welcomed(prefix);
  wamp::Subscribe s1;
  s1.request = 1;
  s1.topic = "com.example.a.b";
  exact.Feed(s1);
  auto sub1 = exact.transport->Next<wamp::Subscribed>().subscription;
  wamp::Subscribe s2;
  s2.request = 1;
  s2.topic = "com.example";
  s2.options = {{"match", "prefix"}};
  prefix.Feed(s2);
  auto sub2 = prefix.transport->Next<wamp::Subscribed>().subscription;
  // The publisher subscribes too, and is excluded by default.
  pub.Feed(s1);
  pub.transport->Next<wamp::Subscribed>();

  wamp::Publish p;
  p.request = 3;
  p.topic = "com.example.a.b";
  p.payload.args = {42};
  p.options = {{"acknowledge", true}};
  pub.Feed(p);
  EXPECT_TRUE(pub.transport->Next<wamp::Published>().publication > 0);
  EXPECT_TRUE(pub.transport->frames.empty());
  auto e1 = exact.transport->Next<wamp::Event>();
  EXPECT_EQ(e1.subscription, sub1);
  EXPECT_EQ(e1.payload.args[0], 42);
  auto e2 = prefix.transport->Next<wamp::Event>();
  EXPECT_EQ(e2.subscription, sub2);
  EXPECT_EQ(e2.details["topic"], "com.example.a.b");
  // exclude_me=false delivers to the publisher as well.
  p.options = {{"exclude_me", false}};
  pub.Feed(p);
  EXPECT_EQ(pub.transport->Next<wamp::Event>().payload.args[0], 42);
  exact.transport->Next<wamp::Event>();
  prefix.transport->Next<wamp::Event>();
  // A topic that only shares characters, not components, does not match the prefix.
  p.topic = "com.examples.x";
  p.options = Value::object();
  pub.Feed(p);
  EXPECT_TRUE(prefix.transport->frames.empty());
}

TEST_F(RouterTest, BoardStatusEventsReachSubscribedUsers) {
  auto alice = JoinUser("tok-alice");
  Welcomed(alice);
  wamp::Subscribe sub;
  sub.request = 1;
  sub.topic = "ew.board.brd-a.status";
  alice.Feed(sub);
  alice.transport->Next<wamp::Subscribed>();
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  EXPECT_TRUE(alice.transport->frames.empty()) << "no online before the board is ready";
  Ready(board);
  EXPECT_EQ(alice.transport->Next<wamp::Event>().payload.kwargs["status"], "online");
  board.handler->OnClose();
  EXPECT_EQ(alice.transport->Next<wamp::Event>().payload.kwargs["status"], "offline");
}

TEST_F(RouterTest, NewerBoardSessionReplacesTheOldOne) {
  auto first = JoinBoard("brd-a");
  auto first_session = Welcomed(first);
  Register(first, "ew.board.brd-a.sys.ping");
  Ready(first);
  auto watcher = JoinUser("tok-alice");
  Welcomed(watcher);
  wamp::Subscribe sub;
  sub.request = 1;
  sub.topic = "ew.board.brd-a.status";
  watcher.Feed(sub);
  watcher.transport->Next<wamp::Subscribed>();
  auto second = JoinBoard("brd-a");
  auto session = Welcomed(second);
  EXPECT_EQ(first.transport->Next<wamp::Abort>().reason, "wamp.close.replaced");
  // Until the new session is ready the board stays online under the old one (no "offline"
  // between the two), but the conductor does not call it: the new one may not serve it yet.
  EXPECT_TRUE(watcher.transport->frames.empty());
  EXPECT_EQ(router_.Presence("brd-a")->session_id, first_session);
  std::optional<Result<wamp::Payload>> got;
  router_.CallBoard("brd-a", "sys.ping", {}, std::chrono::seconds(5), [&](Result<wamp::Payload> r) { got = r; });
  io_.run_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(got && !*got);
  EXPECT_EQ(got->error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(second.transport->frames.empty());
  // The new session can register what the old one held, then says it is ready.
  Register(second, "ew.board.brd-a.sys.ping");
  Ready(second);
  EXPECT_EQ(watcher.transport->Next<wamp::Event>().payload.kwargs["status"], "online");
  EXPECT_TRUE(watcher.transport->frames.empty());
  EXPECT_EQ(router_.Presence("brd-a")->session_id, session);
  // The old socket's late close does not take the board offline.
  first.handler->OnClose();
  EXPECT_TRUE(router_.Presence("brd-a"));
}

TEST_F(RouterTest, MalformedFramesAbortOnlyThatSession) {
  auto good = JoinUser("tok-admin");
  Welcomed(good);
  Register(good, "com.example.echo");
  for (std::string bad : {std::string("\x93\x30\x01", 3), std::string("not json"), std::string("[48, \"x\"]"),
                          std::string("[99, 1, {}]"), std::string("{}"), std::string("")}) {
    auto victim = JoinUser("tok-admin", bad[0] == '\x93' ? Serializer::kMsgpack : Serializer::kJson);
    Welcomed(victim);
    victim.FeedRaw(bad);
    EXPECT_EQ(victim.transport->Next<wamp::Abort>().reason, "wamp.error.protocol_violation");
    EXPECT_TRUE(victim.transport->closed);
  }
  // The good session still works.
  auto caller = JoinUser("tok-admin");
  Welcomed(caller);
  wamp::Call call;
  call.request = 1;
  call.procedure = "com.example.echo";
  caller.Feed(call);
  EXPECT_NO_THROW(good.transport->Next<wamp::Invocation>());
}

TEST_F(RouterTest, MessagesBeforeWelcomeAreProtocolViolations) {
  auto c = Connect();
  wamp::Call call;
  call.request = 1;
  call.procedure = "com.example.x";
  c.Feed(call);
  EXPECT_EQ(c.transport->Next<wamp::Abort>().reason, "wamp.error.protocol_violation");
}

TEST_F(RouterTest, HelloTimeoutClosesSilentSessions) {
  RouterConfig config;
  config.hello_timeout = std::chrono::milliseconds(10);
  Router router(io_.get_executor(), config, directory_, metrics_);
  auto t = std::make_shared<FakeTransport>();
  auto h = router.Attach(t);
  io_.run_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(t->closed);
  EXPECT_EQ(router.SessionCount(), 0u);
}

TEST_F(RouterTest, GatewayCallsReachTheBoard) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  Register(board, "ew.board.brd-a.sys.info");
  Ready(board);
  std::optional<Result<wamp::Payload>> got;
  router_.CallBoard("brd-a", "sys.info", {}, std::chrono::seconds(5), [&](Result<wamp::Payload> r) { got = r; });
  io_.run_for(std::chrono::milliseconds(20));
  auto inv = board.transport->Next<wamp::Invocation>();
  wamp::Yield y;
  y.request = inv.request;
  y.payload.kwargs = {{"hostname", "pi"}};
  board.Feed(y);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((**got).kwargs["hostname"], "pi");

  got.reset();
  router_.CallBoard("brd-b", "sys.info", {}, std::chrono::seconds(5), [&](Result<wamp::Payload> r) { got = r; });
  io_.restart();
  io_.run_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(got);
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().code, ErrorCode::kUnavailable);

  // The board's own error comes back with its code and message.
  got.reset();
  router_.CallBoard("brd-a", "sys.info", {}, std::chrono::seconds(5), [&](Result<wamp::Payload> r) { got = r; });
  io_.restart();
  io_.run_for(std::chrono::milliseconds(20));
  inv = board.transport->Next<wamp::Invocation>();
  wamp::ErrorMessage err;
  err.request_type = wamp::MessageType::kInvocation;
  err.request = inv.request;
  err.error = "wamp.error.invalid_argument";
  err.payload.args = {"line 99 does not exist"};
  board.Feed(err);
  ASSERT_TRUE(got && !*got);
  EXPECT_EQ(got->error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(got->error().message, "line 99 does not exist");
}


// Review 3, L4: tunnel.* is the conductor's to call. An operator of the board's project and an
// admin are refused over WAMP (the board sees nothing); the conductor's own call reaches it.
TEST_F(RouterTest, Review3TunnelProceduresAreTheConductorsOnly) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  Register(board, "ew.board.brd-a.tunnel.open");
  Register(board, "ew.board.brd-a.sys.ping");
  Ready(board);  // online: the conductor's own CallBoard below reaches it
  uint64_t request = 1;
  for (const char* token : {"tok-alice", "tok-admin"}) {
    auto user = JoinUser(token);
    Welcomed(user);
    for (const char* procedure : {"ew.board.brd-a.tunnel.open", "ew.board.brd-a.tunnel", "ew.board.brd-a.tunnel.x.y"}) {
      wamp::Call call;
      call.request = request++;
      call.procedure = procedure;
      call.payload.kwargs = {{"token", "AbCdEfGhIjKlMnOpQrStUvWxYz012345"}, {"port", 22}, {"service", "x"}};
      user.Feed(call);
      EXPECT_EQ(user.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized")
          << token << " " << procedure;
    }
    // The same caller may still call the board's other procedures.
    wamp::Call ping;
    ping.request = request++;
    ping.procedure = "ew.board.brd-a.sys.ping";
    user.Feed(ping);
    auto invocation = board.transport->Next<wamp::Invocation>();
    wamp::Yield yield;
    yield.request = invocation.request;
    board.Feed(yield);
    EXPECT_EQ(user.transport->Next<wamp::Result>().request, ping.request) << token;
  }
  EXPECT_TRUE(board.transport->frames.empty());
  std::optional<Result<wamp::Payload>> got;
  router_.CallBoard("brd-a", "tunnel.open", {}, std::chrono::seconds(5), [&](Result<wamp::Payload> r) { got = r; });
  io_.run_for(std::chrono::milliseconds(20));
  auto invocation = board.transport->Next<wamp::Invocation>();
  wamp::Yield yield;
  yield.request = invocation.request;
  board.Feed(yield);
  ASSERT_TRUE(got && *got);
}

TEST_F(RouterTest, BoardPublicationsReachTheListenerAfterAuthorization) {
  std::vector<std::tuple<std::string, std::string, Value>> heard;
  router_.OnBoardPublication([&](const std::string& board, const std::string& suffix, const wamp::Payload& payload) {
    heard.emplace_back(board, suffix, payload.kwargs);
  });
  io_.run_for(std::chrono::milliseconds(10));  // the listener is installed on the router's strand
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  auto sub = JoinUser("tok-alice");
  Welcomed(sub);
  wamp::Subscribe s1;
  s1.request = 1;
  s1.topic = "ew.board.brd-a.gpio.event";
  sub.Feed(s1);
  sub.transport->Next<wamp::Subscribed>();

  wamp::Publish p;
  p.request = 1;
  p.topic = "ew.board.brd-a.gpio.event";
  p.payload.kwargs = {{"line", "GPIO4"}, {"value", 1}, {"seq", 1}};
  board.Feed(p);
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(std::get<0>(heard[0]), "brd-a");
  EXPECT_EQ(std::get<1>(heard[0]), "gpio.event");
  EXPECT_EQ(std::get<2>(heard[0])["line"], "GPIO4");
  // The event is still routed to subscribers.
  EXPECT_EQ(sub.transport->Next<wamp::Event>().payload.kwargs["seq"], 1);

  // Refused publications (another board's topic) and publications of users are not heard.
  p.request = 2;
  p.topic = "ew.board.brd-b.gpio.event";
  p.options = {{"acknowledge", true}};
  board.Feed(p);
  EXPECT_EQ(board.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  auto admin = JoinUser("tok-admin");
  Welcomed(admin);
  p.topic = "ew.board.brd-a.gpio.event";
  admin.Feed(p);
  admin.transport->Next<wamp::Published>();
  EXPECT_EQ(heard.size(), 1u);
}

TEST_F(RouterTest, FlowTopicsAreForBoardsHoldingAPartitionAndUsersOfTheProject) {
  router_.SetFlowAccess("flw-1", "proj-a", {"brd-a"});
  io_.run_for(std::chrono::milliseconds(10));  // set on the router's strand
  auto board_a = JoinBoard("brd-a");
  Welcomed(board_a);
  auto board_b = JoinBoard("brd-b");
  Welcomed(board_b);
  auto alice = JoinUser("tok-alice");
  Welcomed(alice);
  auto bob = JoinUser("tok-bob");
  Welcomed(bob);
  auto subscribe = [](Client& c, wamp::Id request, const std::string& topic, const char* match = nullptr) {
    wamp::Subscribe s;
    s.request = request;
    s.topic = topic;
    if (match) s.options = {{"match", match}};
    c.Feed(s);
  };
  auto publish = [](Client& c, wamp::Id request, const std::string& topic) {
    wamp::Publish p;
    p.request = request;
    p.topic = topic;
    p.options = {{"acknowledge", true}};
    p.payload.args = Value::array({{{"payload", 1}}});
    p.payload.kwargs = {{"seq", request}, {"from", "brd-a"}, {"version", 1}};
    c.Feed(p);
  };
  subscribe(alice, 1, "ew.flow.flw-1.wire.n1.0");
  alice.transport->Next<wamp::Subscribed>();
  subscribe(board_a, 1, "ew.flow.flw-1", "prefix");
  board_a.transport->Next<wamp::Subscribed>();
  publish(board_a, 2, "ew.flow.flw-1.wire.n1.0");
  board_a.transport->Next<wamp::Published>();
  EXPECT_EQ(alice.transport->Next<wamp::Event>().payload.kwargs["seq"], 2);
  // Not a board of the flow, not a user of its project, not a pattern naming no flow.
  subscribe(board_b, 3, "ew.flow.flw-1.wire.n1.0");
  EXPECT_EQ(board_b.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  publish(board_b, 4, "ew.flow.flw-1.wire.n1.0");
  EXPECT_EQ(board_b.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  subscribe(bob, 5, "ew.flow.flw-1.debug");
  EXPECT_EQ(bob.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  subscribe(alice, 6, "ew.flow..wire", "wildcard");
  EXPECT_EQ(alice.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  subscribe(board_a, 7, "ew.flow.flw-2.wire.n1.0");
  EXPECT_EQ(board_a.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  // A version that leaves board A, then the flow deleted.
  router_.SetFlowAccess("flw-1", "proj-a", {"brd-b"});
  io_.restart();  // it ran out of work before
  io_.run_for(std::chrono::milliseconds(10));
  publish(board_a, 8, "ew.flow.flw-1.wire.n1.0");
  EXPECT_EQ(board_a.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  publish(board_b, 9, "ew.flow.flw-1.wire.n1.0");
  board_b.transport->Next<wamp::Published>();
  EXPECT_EQ(alice.transport->Next<wamp::Event>().payload.kwargs["seq"], 9);
  // Subscriptions made while a board held a partition stay until it unsubscribes or leaves
  // (authorization is checked when subscribing).
  EXPECT_EQ(board_a.transport->Next<wamp::Event>().payload.kwargs["seq"], 9);
  router_.ClearFlowAccess("flw-1");
  io_.restart();
  io_.run_for(std::chrono::milliseconds(10));
  publish(board_b, 10, "ew.flow.flw-1.wire.n1.0");
  EXPECT_EQ(board_b.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  subscribe(alice, 11, "ew.flow.flw-1.debug");
  EXPECT_EQ(alice.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
}

TEST_F(RouterTest, FlowHooksAndWireMessagesKeptForAnAbsentReceiver) {
  const std::string wire = "ew.flow.flw-1.wire.n1.0";
  router_.SetFlowAccess("flw-1", "proj-a", {"brd-a", "brd-b"});
  router_.SetFlowWires("flw-1", {{wire, {"brd-b"}}});
  std::vector<int> heard;
  router_.OnFlowPublication([&](const std::string& topic, const wamp::Payload& payload) {
    if (topic == wire) heard.push_back(payload.kwargs["seq"].get<int>());
  });
  io_.run_for(std::chrono::milliseconds(10));
  auto board_a = JoinBoard("brd-a");
  Welcomed(board_a);
  auto publish = [&](wamp::Id seq) {
    wamp::Publish p;
    p.request = seq;
    p.topic = wire;
    p.payload.args = Value::array({{{"payload", seq}}});
    p.payload.kwargs = {{"seq", seq}, {"from", "brd-a"}, {"version", 1}};
    board_a.Feed(p);
  };
  // Board B is away: what A (and the conductor itself) publish on B's wire is kept for it.
  publish(1);
  publish(2);
  router_.PublishFlowEvent(wire, wamp::Payload{Value::array({{{"payload", 3}}}), {{"seq", 1}, {"from", "cloud:x"}}});
  router_.PublishFlowEvent("ew.flow.flw-1.debug", wamp::Payload{Value::array(), {{"board", ""}}});
  io_.restart();
  io_.run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(heard, (std::vector<int>{1, 2}));  // the conductor does not hear itself
  EXPECT_EQ(router_.FlowWireStats("flw-1")["brd-b"].buffered, 3u);
  // B subscribes: SUBSCRIBED, then what was kept, in order, then live events.
  auto board_b = JoinBoard("brd-b");
  Welcomed(board_b);
  wamp::Subscribe sub;
  sub.request = 1;
  sub.topic = wire;
  board_b.Feed(sub);
  auto subscribed = board_b.transport->Next<wamp::Subscribed>();
  for (int payload : {1, 2, 3}) {
    auto event = board_b.transport->Next<wamp::Event>();
    EXPECT_EQ(event.subscription, subscribed.subscription);
    EXPECT_EQ(event.payload.args[0]["payload"], payload);
  }
  EXPECT_EQ(router_.FlowWireStats("flw-1")["brd-b"].buffered, 0u);
  publish(4);
  EXPECT_EQ(board_b.transport->Next<wamp::Event>().payload.kwargs["seq"], 4);
  EXPECT_EQ(router_.FlowWireStats("flw-1")["brd-b"].buffered, 0u);  // B was there: nothing kept
  router_.ClearFlowAccess("flw-1");
  io_.restart();
  io_.run_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(router_.FlowWireStats("flw-1").empty());
}

TEST_F(RouterTest, SessionEndsAreListenedToAndPublishedAsOnLeave) {
  std::vector<std::pair<std::string, uint64_t>> ended;
  router_.OnBoardSessionEnded([&](const std::string& board, uint64_t session) { ended.emplace_back(board, session); });
  io_.run_for(std::chrono::milliseconds(10));
  auto board = JoinBoard("brd-a");
  auto board_session = Welcomed(board);
  wamp::Subscribe sub;
  sub.request = 1;
  sub.topic = "wamp.session.on_leave";
  board.Feed(sub);
  board.transport->Next<wamp::Subscribed>();
  auto watcher = JoinUser("tok-admin");
  Welcomed(watcher);
  watcher.Feed(sub);
  watcher.transport->Next<wamp::Subscribed>();

  // A user's session leaves: the admin watching hears who it was.
  auto alice = JoinUser("tok-alice");
  auto alice_session = Welcomed(alice);
  alice.handler->OnClose();
  EXPECT_EQ(watcher.transport->Next<wamp::Event>().payload.args,
            Value::array({alice_session, "alice", "operator"}));
  EXPECT_TRUE(ended.empty()) << "only board sessions are reported to the listener";

  // An admin's goodbye too.
  auto admin = JoinUser("tok-admin");
  auto admin_session = Welcomed(admin);
  wamp::Goodbye bye;
  bye.reason = "wamp.close.normal";
  admin.Feed(bye);
  EXPECT_EQ(watcher.transport->Next<wamp::Event>().payload.args, Value::array({admin_session, "admin", "admin"}));
  // The board heard of neither: they never called it.
  EXPECT_TRUE(board.transport->frames.empty());

  // A board replaced by a newer session: the old one ended, the listener hears of it, and the
  // admin watching on_leave sees it.
  auto second = JoinBoard("brd-a");
  auto second_session = Welcomed(second);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0], std::make_pair(std::string("brd-a"), board_session));
  EXPECT_EQ(watcher.transport->Next<wamp::Event>().payload.args, Value::array({board_session, "brd-a", "board"}));
  second.handler->OnClose();
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(ended[1].second, second_session);
  EXPECT_EQ(watcher.transport->Next<wamp::Event>().payload.args[0], second_session);

  // A session that never got in is no session: nothing is published for it.
  auto stranger = Connect();
  stranger.handler->OnClose();
  EXPECT_TRUE(watcher.transport->frames.empty());
  EXPECT_EQ(ended.size(), 2u);
}

// Issue 11: boards subscribed to wamp.session.on_leave learned every project's user and board
// names. A board now hears only of sessions shown to it as disclosed callers, by session id.
TEST_F(RouterTest, Issue11BoardsHearOnLeaveOnlyOfTheirCallersAndOnlyTheirId) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  wamp::Register reg;
  reg.request = 1;
  reg.procedure = "ew.board.brd-a.gpio.watch";
  reg.options = {{"disclose_caller", true}};
  board.Feed(reg);
  board.transport->Next<wamp::Registered>();
  Register(board, "ew.board.brd-a.gpio.read", 2);  // not disclosing
  wamp::Subscribe sub;
  sub.request = 3;
  sub.topic = "wamp.session.on_leave";
  board.Feed(sub);
  board.transport->Next<wamp::Subscribed>();
  auto other_board = JoinBoard("brd-b");
  Welcomed(other_board);
  sub.request = 1;
  other_board.Feed(sub);
  other_board.transport->Next<wamp::Subscribed>();

  auto alice = JoinUser("tok-alice");
  auto alice_session = Welcomed(alice);
  auto carol = JoinUser("tok-alice");  // same project, only calls what does not disclose
  Welcomed(carol);
  wamp::Call call;
  call.request = 1;
  call.procedure = "ew.board.brd-a.gpio.watch";
  alice.Feed(call);
  auto inv = board.transport->Next<wamp::Invocation>();
  EXPECT_EQ(inv.details["caller"], alice_session);
  wamp::Yield done;
  done.request = inv.request;
  board.Feed(done);
  alice.transport->Next<wamp::Result>();
  call.procedure = "ew.board.brd-a.gpio.read";
  carol.Feed(call);
  done.request = board.transport->Next<wamp::Invocation>().request;
  board.Feed(done);
  carol.transport->Next<wamp::Result>();

  carol.handler->OnClose();
  EXPECT_TRUE(board.transport->frames.empty());
  alice.handler->OnClose();
  auto event = board.transport->Next<wamp::Event>();
  EXPECT_EQ(event.payload.args, Value::array({alice_session}));
  EXPECT_TRUE(event.payload.kwargs.empty());
  EXPECT_TRUE(board.transport->frames.empty());
  EXPECT_TRUE(other_board.transport->frames.empty()) << "another project's board hears nothing";
  // Nor does a board hear of other boards leaving.
  other_board.handler->OnClose();
  EXPECT_TRUE(board.transport->frames.empty());
}

TEST_F(RouterTest, BoardsMaySubscribeToOnLeaveExactlyAndOperatorsMayNot) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  wamp::Subscribe sub;
  sub.request = 1;
  sub.topic = "wamp.session.on_leave";
  sub.options = {{"match", "prefix"}};
  board.Feed(sub);
  EXPECT_EQ(board.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  sub.request = 2;
  sub.topic = "wamp.session";
  board.Feed(sub);
  EXPECT_EQ(board.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  sub.request = 3;
  sub.topic = "wamp.session.on_join";
  sub.options = Value::object();
  board.Feed(sub);
  EXPECT_EQ(board.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  auto alice = JoinUser("tok-alice");
  Welcomed(alice);
  sub.request = 4;
  sub.topic = "wamp.session.on_leave";
  alice.Feed(sub);
  EXPECT_EQ(alice.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  sub.request = 5;
  board.Feed(sub);
  EXPECT_NO_THROW(board.transport->Next<wamp::Subscribed>());
}

// ---- WAMP as the spec says, or not advertised (issue 11) ----

TEST_F(RouterTest, Issue11GoodbyeBeforeWelcomeIsAborted) {
  wamp::Goodbye bye;
  bye.reason = "wamp.close.normal";
  auto c = Connect();
  c.Feed(bye);
  EXPECT_EQ(c.transport->Next<wamp::Abort>().reason, "wamp.error.protocol_violation");
  EXPECT_TRUE(c.transport->closed);
  // Also while the router waits for the ticket.
  auto d = Connect();
  wamp::Hello hello;
  hello.realm = "edgewire";
  hello.details = {{"authmethods", {"ticket"}}};
  d.Feed(hello);
  d.transport->Next<wamp::Challenge>();
  d.Feed(bye);
  EXPECT_EQ(d.transport->Next<wamp::Abort>().reason, "wamp.error.protocol_violation");
  EXPECT_TRUE(d.transport->closed);
  EXPECT_EQ(router_.SessionCount(), 0u);
}

TEST_F(RouterTest, WelcomeAdvertisesWhatTheRouterDoes) {
  auto user = JoinUser("tok-admin");
  auto welcome = user.transport->Next<wamp::Welcome>();
  const auto& broker = welcome.details["roles"]["broker"]["features"];
  EXPECT_EQ(broker["pattern_based_subscription"], true);
  EXPECT_EQ(broker["subscriber_blackwhite_listing"], true);
  EXPECT_EQ(broker["publisher_identification"], true);
  EXPECT_EQ(broker["publisher_exclusion"], true);
  const auto& dealer = welcome.details["roles"]["dealer"]["features"];
  EXPECT_FALSE(dealer.contains("pattern_based_registration")) << "REGISTER refuses match other than exact";
  EXPECT_FALSE(dealer.contains("shared_registration"));
}

TEST_F(RouterTest, Issue11WronglyTypedOptionsAreProtocolViolations) {
  std::vector<std::pair<std::string, wamp::Message>> cases = {
      {"PUBLISH acknowledge", wamp::Publish{1, {{"acknowledge", "hello"}}, "com.example.t", {}}},
      {"PUBLISH exclude_me", wamp::Publish{1, {{"exclude_me", 1}}, "com.example.t", {}}},
      {"PUBLISH disclose_me", wamp::Publish{1, {{"disclose_me", "yes"}}, "com.example.t", {}}},
      {"PUBLISH exclude not a list", wamp::Publish{1, {{"exclude", 5}}, "com.example.t", {}}},
      {"PUBLISH exclude of strings", wamp::Publish{1, {{"exclude", {"x"}}}, "com.example.t", {}}},
      {"PUBLISH eligible with id 0", wamp::Publish{1, {{"eligible", {0}}}, "com.example.t", {}}},
      {"PUBLISH eligible_authid of numbers", wamp::Publish{1, {{"eligible_authid", {1}}}, "com.example.t", {}}},
      {"PUBLISH exclude_authrole not a list", wamp::Publish{1, {{"exclude_authrole", "board"}}, "com.example.t", {}}},
      {"PUBLISH exclude too long",
       wamp::Publish{1, {{"exclude", std::vector<uint64_t>(1025, 7)}}, "com.example.t", {}}},
      {"SUBSCRIBE match", wamp::Subscribe{1, {{"match", 123}}, "com.example.t"}},
      {"SUBSCRIBE disclose_publisher", wamp::Subscribe{1, {{"disclose_publisher", "y"}}, "com.example.t"}},
      {"CALL timeout string", wamp::Call{1, {{"timeout", "x"}}, "com.example.p", {}}},
      {"CALL timeout negative", wamp::Call{1, {{"timeout", -5}}, "com.example.p", {}}},
      {"CALL timeout fraction", wamp::Call{1, {{"timeout", 1.5}}, "com.example.p", {}}},
      {"CALL receive_progress", wamp::Call{1, {{"receive_progress", "y"}}, "com.example.p", {}}},
      {"CALL disclose_me", wamp::Call{1, {{"disclose_me", 1}}, "com.example.p", {}}},
      {"REGISTER match", wamp::Register{1, {{"match", 123}}, "com.example.p"}},
      {"REGISTER invoke", wamp::Register{1, {{"invoke", false}}, "com.example.p"}},
      {"REGISTER disclose_caller", wamp::Register{1, {{"disclose_caller", "true"}}, "com.example.p"}},
      {"CANCEL mode", wamp::Cancel{1, {{"mode", 3}}}},
      {"YIELD progress", wamp::Yield{1, {{"progress", "y"}}, {}}},
  };
  for (auto& [name, message] : cases) {
    auto c = JoinUser("tok-admin");
    Welcomed(c);
    c.Feed(message);
    ASSERT_FALSE(c.transport->frames.empty()) << name;
    EXPECT_EQ(c.transport->Next<wamp::Abort>().reason, "wamp.error.protocol_violation") << name;
    EXPECT_TRUE(c.transport->closed) << name;
  }
  // HELLO details too.
  for (Value details : {Value{{"authmethods", {"ticket"}}, {"authid", 5}}, Value{{"authmethods", "ticket"}},
                        Value{{"authmethods", {"ticket"}}, {"roles", {"caller"}}}}) {
    auto c = Connect();
    wamp::Hello hello;
    hello.realm = "edgewire";
    hello.details = details;
    c.Feed(hello);
    EXPECT_EQ(c.transport->Next<wamp::Abort>().reason, "wamp.error.protocol_violation") << details.dump();
  }
  // Well-typed options, and null as "not set", still work.
  auto ok = JoinUser("tok-admin");
  Welcomed(ok);
  ok.Feed(wamp::Publish{2, {{"acknowledge", true}, {"exclude_me", nullptr}, {"exclude", {7, 8}}}, "com.example.t", {}});
  EXPECT_NO_THROW(ok.transport->Next<wamp::Published>());
  Register(ok, "com.example.p", 3);
  ok.Feed(wamp::Call{4, {{"timeout", nullptr}, {"receive_progress", nullptr}}, "com.example.p", {}});
  auto inv = ok.transport->Next<wamp::Invocation>();
  EXPECT_FALSE(inv.details.contains("timeout")) << "a null timeout is no timeout, and not passed on";
  EXPECT_FALSE(inv.details.contains("receive_progress"));
  EXPECT_FALSE(ok.transport->closed);
}

TEST_F(RouterTest, Issue11WildcardSubscriptionsMatchComponentWise) {
  auto pub = JoinUser("tok-admin");
  Welcomed(pub);
  auto sub = JoinUser("tok-admin");
  Welcomed(sub);
  sub.Feed(wamp::Subscribe{1, {{"match", "wildcard"}}, "com..c"});
  auto id = sub.transport->Next<wamp::Subscribed>().subscription;
  pub.Feed(wamp::Publish{2, Value::object(), "com.x.c", {{7}, Value::object()}});
  auto event = sub.transport->Next<wamp::Event>();
  EXPECT_EQ(event.subscription, id);
  EXPECT_EQ(event.details["topic"], "com.x.c");
  EXPECT_EQ(event.payload.args[0], 7);
  for (const char* other : {"com.x.d", "com.x.y.c", "com.c", "org.x.c", "com.x.cc"}) {
    pub.Feed(wamp::Publish{3, Value::object(), other, {}});
    EXPECT_TRUE(sub.transport->frames.empty()) << other;
  }
  // A pattern with no empty component is an exact match; several empty ones each match one.
  sub.Feed(wamp::Subscribe{4, {{"match", "wildcard"}}, "..c"});
  auto any_two = sub.transport->Next<wamp::Subscribed>().subscription;
  pub.Feed(wamp::Publish{5, Value::object(), "org.y.c", {}});
  EXPECT_EQ(sub.transport->Next<wamp::Event>().subscription, any_two);
  EXPECT_TRUE(sub.transport->frames.empty());
  // Unsubscribed, it matches no more.
  sub.Feed(wamp::Unsubscribe{6, id});
  sub.transport->Next<wamp::Unsubscribed>();
  pub.Feed(wamp::Publish{7, Value::object(), "com.x.z", {}});
  EXPECT_TRUE(sub.transport->frames.empty());

  // Refused: unknown match policies, patterns that are not URIs, empty components elsewhere.
  sub.Feed(wamp::Subscribe{8, {{"match", "regex"}}, "com.x"});
  EXPECT_EQ(sub.transport->Next<wamp::ErrorMessage>().error, "wamp.error.invalid_argument");
  sub.Feed(wamp::Subscribe{9, {{"match", "wildcard"}}, "com..C"});
  EXPECT_EQ(sub.transport->Next<wamp::ErrorMessage>().error, "wamp.error.invalid_uri");
  sub.Feed(wamp::Subscribe{10, Value::object(), "com..c"});
  EXPECT_EQ(sub.transport->Next<wamp::ErrorMessage>().error, "wamp.error.invalid_uri");
  sub.Feed(wamp::Subscribe{11, {{"match", "prefix"}}, "com..c"});
  EXPECT_EQ(sub.transport->Next<wamp::ErrorMessage>().error, "wamp.error.invalid_uri");
}

TEST_F(RouterTest, WildcardSubscriptionsPerSessionAreCapped) {
  auto sub = JoinUser("tok-admin");
  Welcomed(sub);
  wamp::Id first = 0;
  for (int i = 0; i < 32; ++i) {
    sub.Feed(wamp::Subscribe{wamp::Id(i + 1), {{"match", "wildcard"}}, "com..c" + std::to_string(i)});
    auto reply = sub.transport->Next();
    ASSERT_TRUE(std::holds_alternative<wamp::Subscribed>(reply))
        << i << ": " << std::get<wamp::ErrorMessage>(reply).payload.args.dump();
    if (i == 0) first = std::get<wamp::Subscribed>(reply).subscription;
  }
  sub.Feed(wamp::Subscribe{40, {{"match", "wildcard"}}, "com..more"});
  EXPECT_EQ(sub.transport->Next<wamp::ErrorMessage>().error, WampErrorUri(ErrorCode::kResourceExhausted));
  // Subscribing again to a pattern it holds is not one more; unsubscribing frees a place.
  sub.Feed(wamp::Subscribe{41, {{"match", "wildcard"}}, "com..c0"});
  EXPECT_EQ(sub.transport->Next<wamp::Subscribed>().subscription, first);
  sub.Feed(wamp::Unsubscribe{42, first});
  sub.transport->Next<wamp::Unsubscribed>();
  sub.Feed(wamp::Subscribe{43, {{"match", "wildcard"}}, "com..more"});
  EXPECT_NO_THROW(sub.transport->Next<wamp::Subscribed>());
  // Other sessions have their own allowance.
  auto other = JoinUser("tok-admin");
  Welcomed(other);
  other.Feed(wamp::Subscribe{1, {{"match", "wildcard"}}, "com..more"});
  EXPECT_NO_THROW(other.transport->Next<wamp::Subscribed>());
}

TEST_F(RouterTest, Issue11WildcardSubscriptionsStayInsideWhatTheSubscriberMaySee) {
  auto board = JoinBoard("brd-a");
  Welcomed(board);
  auto alice = JoinUser("tok-alice");
  Welcomed(alice);
  auto bob = JoinUser("tok-bob");
  Welcomed(bob);
  alice.Feed(wamp::Subscribe{1, {{"match", "wildcard"}}, "ew.board.brd-a..event"});
  alice.transport->Next<wamp::Subscribed>();
  board.Feed(wamp::Publish{1, Value::object(), "ew.board.brd-a.gpio.event", {}});
  EXPECT_EQ(alice.transport->Next<wamp::Event>().details["topic"], "ew.board.brd-a.gpio.event");
  // No board id: every board's topics, admins only.
  for (auto* c : {&alice, &bob}) {
    c->Feed(wamp::Subscribe{2, {{"match", "wildcard"}}, "ew.board..status"});
    EXPECT_EQ(c->transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  }
  board.Feed(wamp::Subscribe{2, {{"match", "wildcard"}}, "ew.board..status"});
  EXPECT_EQ(board.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  bob.Feed(wamp::Subscribe{3, {{"match", "wildcard"}}, "ew.board.brd-a..event"});
  EXPECT_EQ(bob.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  board.Feed(wamp::Subscribe{3, {{"match", "wildcard"}}, "ew.board.brd-b..event"});
  EXPECT_EQ(board.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  board.Feed(wamp::Subscribe{4, {{"match", "wildcard"}}, "ew.board.brd-a.gpio."});
  EXPECT_NO_THROW(board.transport->Next<wamp::Subscribed>());
}

TEST_F(RouterTest, Issue11ExcludeAndEligibleChooseTheReceivers) {
  const std::string topic = "ew.board.brd-a.log";
  auto board = JoinBoard("brd-a");
  auto board_id = Welcomed(board);
  auto pub = JoinUser("tok-admin");
  Welcomed(pub);
  auto a = JoinUser("tok-admin");
  auto a_id = Welcomed(a);
  auto b = JoinUser("tok-admin");
  auto b_id = Welcomed(b);
  auto alice = JoinUser("tok-alice");
  auto alice_id = Welcomed(alice);
  std::vector<Client*> all = {&board, &a, &b, &alice};
  for (auto* c : all) {
    c->Feed(wamp::Subscribe{1, Value::object(), topic});
    c->transport->Next<wamp::Subscribed>();
  }
  auto receivers = [&](Value options) {
    pub.Feed(wamp::Publish{9, options, topic, {}});
    std::set<wamp::Id> got;
    for (auto* c : all) {
      if (c->transport->frames.empty()) continue;
      c->transport->Next<wamp::Event>();
      got.insert(c->session);
    }
    return got;
  };
  using Ids = std::set<wamp::Id>;
  EXPECT_EQ(receivers(Value::object()), (Ids{board_id, a_id, b_id, alice_id}));
  EXPECT_EQ(receivers({{"exclude", {a_id}}}), (Ids{board_id, b_id, alice_id}));
  EXPECT_EQ(receivers({{"eligible", {a_id, alice_id}}}), (Ids{a_id, alice_id}));
  EXPECT_EQ(receivers({{"eligible", {a_id, b_id}}, {"exclude", {b_id}}}), (Ids{a_id}));
  EXPECT_EQ(receivers({{"exclude_authid", {"alice"}}}), (Ids{board_id, a_id, b_id}));
  EXPECT_EQ(receivers({{"eligible_authid", {"admin"}}}), (Ids{a_id, b_id}));
  EXPECT_EQ(receivers({{"exclude_authrole", {"board"}}}), (Ids{a_id, b_id, alice_id}));
  EXPECT_EQ(receivers({{"eligible_authrole", {"operator", "board"}}}), (Ids{board_id, alice_id}));
  EXPECT_EQ(receivers({{"eligible", Value::array()}}), Ids{});
}

TEST_F(RouterTest, Issue11PublisherIsDisclosedOnlyWhenAskedAndAllowed) {
  const std::string topic = "ew.board.brd-a.gpio.event";
  auto board = JoinBoard("brd-a");
  auto board_id = Welcomed(board);
  auto pub = JoinUser("tok-admin");
  auto pub_id = Welcomed(pub);
  auto watcher = JoinUser("tok-admin");  // asks, and as an admin may know anyone
  Welcomed(watcher);
  auto alice = JoinUser("tok-alice");    // asks; may know her project's boards only
  Welcomed(alice);
  auto plain = JoinUser("tok-admin");    // does not ask
  Welcomed(plain);
  for (auto* c : {&watcher, &alice}) {
    c->Feed(wamp::Subscribe{1, {{"disclose_publisher", true}}, topic});
    c->transport->Next<wamp::Subscribed>();
  }
  plain.Feed(wamp::Subscribe{1, Value::object(), topic});
  plain.transport->Next<wamp::Subscribed>();

  board.Feed(wamp::Publish{1, Value::object(), topic, {}});
  for (auto* c : {&watcher, &alice}) {
    auto details = c->transport->Next<wamp::Event>().details;
    EXPECT_EQ(details["publisher"], board_id);
    EXPECT_EQ(details["publisher_authid"], "brd-a");
    EXPECT_EQ(details["publisher_authrole"], "board");
  }
  EXPECT_FALSE(plain.transport->Next<wamp::Event>().details.contains("publisher"));

  pub.Feed(wamp::Publish{2, Value::object(), topic, {}});
  EXPECT_EQ(watcher.transport->Next<wamp::Event>().details["publisher_authid"], "admin");
  EXPECT_FALSE(alice.transport->Next<wamp::Event>().details.contains("publisher")) << "not hers to know";
  EXPECT_FALSE(plain.transport->Next<wamp::Event>().details.contains("publisher"));

  // A publisher that discloses itself is disclosed to every receiver.
  pub.Feed(wamp::Publish{3, {{"disclose_me", true}}, topic, {}});
  for (auto* c : {&watcher, &alice, &plain}) EXPECT_EQ(c->transport->Next<wamp::Event>().details["publisher"], pub_id);
}

TEST_F(RouterTest, Issue11InvocationRequestIdsAreInTheCalleesSessionScope) {
  auto one = JoinUser("tok-admin");
  Welcomed(one);
  Register(one, "com.example.one");
  auto two = JoinUser("tok-admin");
  Welcomed(two);
  Register(two, "com.example.two");
  auto caller = JoinUser("tok-admin");
  Welcomed(caller);
  caller.Feed(wamp::Call{1, Value::object(), "com.example.one", {}});
  EXPECT_EQ(one.transport->Next<wamp::Invocation>().request, 1u);
  caller.Feed(wamp::Call{2, Value::object(), "com.example.two", {}});
  EXPECT_EQ(two.transport->Next<wamp::Invocation>().request, 1u);
  caller.Feed(wamp::Call{3, Value::object(), "com.example.one", {}});
  EXPECT_EQ(one.transport->Next<wamp::Invocation>().request, 2u);

  // A callee answers only in its own scope: two's "2" is nobody's call.
  two.Feed(wamp::Yield{2, Value::object(), {}});
  EXPECT_TRUE(caller.transport->frames.empty());
  two.Feed(wamp::Yield{1, Value::object(), {{"from two"}, Value::object()}});
  auto r = caller.transport->Next<wamp::Result>();
  EXPECT_EQ(r.request, 2u);
  EXPECT_EQ(r.payload.args[0], "from two");
  one.Feed(wamp::Yield{2, Value::object(), {}});
  EXPECT_EQ(caller.transport->Next<wamp::Result>().request, 3u);
  one.Feed(wamp::Yield{1, Value::object(), {}});
  EXPECT_EQ(caller.transport->Next<wamp::Result>().request, 1u);
  // The next invocation continues the callee's sequence.
  caller.Feed(wamp::Call{4, Value::object(), "com.example.one", {}});
  EXPECT_EQ(one.transport->Next<wamp::Invocation>().request, 3u);
  // A CALL request id still in flight in this session is a protocol violation.
  caller.Feed(wamp::Call{4, Value::object(), "com.example.two", {}});
  EXPECT_EQ(caller.transport->Next<wamp::Abort>().reason, "wamp.error.protocol_violation");
}

// Issue 14: ew.conductor.publish. A board's spooled records are routed as its publications once
// per (spool, stream, seq); a record re-sent after a reconnect is acknowledged, not routed again;
// bad or unauthorized calls route nothing.
TEST_F(RouterTest, AcknowledgedPublicationsAreRoutedOncePerSpoolSeq) {
  std::vector<int64_t> heard;  // the conductor's own hook (GPIO history)
  router_.OnBoardPublication([&](const std::string& board, const std::string& suffix, const wamp::Payload& payload) {
    if (board == "brd-a" && suffix == "gpio.event") heard.push_back(payload.kwargs["n"].get<int64_t>());
  });
  io_.poll();  // the hook is set up on the router's strand
  auto alice = JoinUser("tok-alice");
  Welcomed(alice);
  alice.Feed(wamp::Subscribe{1, Value::object(), "ew.board.brd-a.gpio.event"});
  alice.transport->Next<wamp::Subscribed>();
  auto board = JoinBoard("brd-a");
  Welcomed(board);

  wamp::Id request = 10;
  auto publish = [&](Client& c, std::vector<uint64_t> seqs, const std::string& spool = "0123456789abcdef",
                     const std::string& topic = "ew.board.brd-a.gpio.event") {
    Value records = Value::array();
    for (uint64_t seq : seqs) records.push_back({{"seq", seq}, {"kwargs", {{"n", seq}}}});
    wamp::Call call;
    call.request = ++request;
    call.procedure = "ew.conductor.publish";
    call.payload.kwargs = {{"topic", topic}, {"spool", spool}, {"stream", "gpio.event"}, {"records", records}};
    c.Feed(call);
  };
  auto events = [&] {
    std::vector<int64_t> out;
    while (!alice.transport->frames.empty()) out.push_back(alice.transport->Next<wamp::Event>().payload.kwargs["n"]);
    return out;
  };

  publish(board, {1, 2, 3});
  auto r = board.transport->Next<wamp::Result>();
  EXPECT_EQ(r.payload.kwargs["through"], 3);
  EXPECT_EQ(r.payload.kwargs["routed"], 3);
  EXPECT_EQ(events(), (std::vector<int64_t>{1, 2, 3}));

  // The answer was lost in a cut: the board sends 2..4 again in a new session.
  board.handler->OnClose();
  auto again = JoinBoard("brd-a");
  Welcomed(again);
  alice.transport->frames.clear();  // status events
  publish(again, {2, 3, 4});
  r = again.transport->Next<wamp::Result>();
  EXPECT_EQ(r.payload.kwargs["through"], 4);
  EXPECT_EQ(r.payload.kwargs["routed"], 1);
  EXPECT_EQ(r.payload.kwargs["duplicates"], 2);
  EXPECT_EQ(events(), (std::vector<int64_t>{4}));
  EXPECT_EQ(heard, (std::vector<int64_t>{1, 2, 3, 4}));

  // A gap (records dropped at the board's bound) is accepted; a new spool numbers from 1 again.
  publish(again, {9});
  EXPECT_EQ(again.transport->Next<wamp::Result>().payload.kwargs["routed"], 1);
  publish(again, {1}, "fedcba9876543210");
  EXPECT_EQ(again.transport->Next<wamp::Result>().payload.kwargs["routed"], 1);
  EXPECT_EQ(events(), (std::vector<int64_t>{9, 1}));

  // Bad input routes nothing and changes nothing: another board's topic, seqs out of order, a
  // user calling it.
  publish(again, {20}, "0123456789abcdef", "ew.board.brd-b.gpio.event");
  EXPECT_EQ(again.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  publish(again, {21, 20});
  EXPECT_EQ(again.transport->Next<wamp::ErrorMessage>().error, WampErrorUri(ErrorCode::kInvalidArgument));
  publish(again, {5}, "not a spool id");
  EXPECT_EQ(again.transport->Next<wamp::ErrorMessage>().error, WampErrorUri(ErrorCode::kInvalidArgument));
  auto admin = JoinUser("tok-admin");
  Welcomed(admin);
  publish(admin, {30});
  EXPECT_EQ(admin.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  EXPECT_TRUE(events().empty());
  // ... and seq 10 of the first spool is still new (nothing above 9 was taken).
  publish(again, {10});
  EXPECT_EQ(again.transport->Next<wamp::Result>().payload.kwargs["routed"], 1);
}

}  // namespace
}  // namespace ew::router

namespace ew::router {
namespace {

// Issue 14: a board counted as online at its WELCOME was called before it had registered its
// procedures ("no such procedure"). It is online once it calls ew.conductor.board.ready: only
// then do presence, the status event, CallBoard and the registered listeners (the resync of its
// deployments and flows) see it, listeners once per procedure it holds, in registration order.
TEST_F(RouterTest, Issue14BoardIsOnlineOnlyOnceItSaysItsProceduresAreRegistered) {
  std::vector<std::string> registered;
  router_.OnBoardRegistered([&](const std::string& board, const std::string& suffix) {
    registered.push_back(board + " " + suffix);
  });
  io_.run_for(std::chrono::milliseconds(10));
  auto watcher = JoinUser("tok-alice");
  Welcomed(watcher);
  watcher.Feed(wamp::Subscribe{1, Value::object(), "ew.board.brd-a.status"});
  watcher.transport->Next<wamp::Subscribed>();

  auto board = JoinBoard("brd-a");
  Welcomed(board);
  Register(board, "ew.board.brd-a.fn.deploy", 1);
  Register(board, "ew.board.brd-a.fn.list", 2);
  EXPECT_FALSE(router_.Presence("brd-a"));
  EXPECT_TRUE(registered.empty()) << "no resync before the board is ready";
  EXPECT_TRUE(watcher.transport->frames.empty()) << "no online event before the board is ready";
  std::optional<Result<wamp::Payload>> got;
  router_.CallBoard("brd-a", "fn.list", {}, std::chrono::seconds(5), [&](Result<wamp::Payload> r) { got = r; });
  io_.restart();
  io_.run_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(got && !*got);
  EXPECT_EQ(got->error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(board.transport->frames.empty()) << "the conductor must not call a board that is not ready";

  Ready(board);
  ASSERT_TRUE(router_.Presence("brd-a"));
  EXPECT_EQ(watcher.transport->Next<wamp::Event>().payload.kwargs["status"], "online");
  EXPECT_EQ(registered, (std::vector<std::string>{"brd-a fn.deploy", "brd-a fn.list"}));
  // A second ready changes nothing; a later registration is heard at once.
  Ready(board, 901);
  EXPECT_TRUE(watcher.transport->frames.empty());
  Register(board, "ew.board.brd-a.sys.info", 3);
  EXPECT_EQ(registered.back(), "brd-a sys.info");
  EXPECT_EQ(registered.size(), 3u);
  // A user may not say a board is ready.
  watcher.Feed(wamp::Call{5, Value::object(), "ew.conductor.board.ready", {}});
  EXPECT_EQ(watcher.transport->Next<wamp::ErrorMessage>().error, "wamp.error.not_authorized");
  // A board that leaves before it was ready was never online: nothing is published.
  board.handler->OnClose();
  EXPECT_EQ(watcher.transport->Next<wamp::Event>().payload.kwargs["status"], "offline");
  auto brief = JoinBoard("brd-a");
  Welcomed(brief);
  brief.handler->OnClose();
  EXPECT_TRUE(watcher.transport->frames.empty());
  EXPECT_FALSE(router_.Presence("brd-a"));
}

// An agent older than ew.conductor.board.ready never calls it: it comes online once the grace
// after its last REGISTER has passed, with its listeners run then.
TEST(RouterReadyGraceTest, Issue14AnAgentThatNeverSaysReadyComesOnlineAfterTheGrace) {
  boost::asio::io_context io;
  FakeDirectory directory;
  metrics::Registry metrics;
  RouterConfig config;
  config.board_ready_grace = std::chrono::milliseconds(150);
  config.board_ready_max = std::chrono::milliseconds(5'000);
  Router router(io.get_executor(), config, directory, metrics);
  std::vector<std::string> registered;
  router.OnBoardRegistered([&](const std::string&, const std::string& suffix) { registered.push_back(suffix); });
  io.run_for(std::chrono::milliseconds(10));

  auto transport = std::make_shared<FakeTransport>(Serializer::kMsgpack);
  auto handler = router.Attach(transport);
  auto feed = [&](const wamp::Message& m) { handler->OnFrame(wamp::Encode(transport->serializer(), m)); };
  wamp::Hello hello;
  hello.realm = "edgewire";
  hello.details = {{"authmethods", {"wampcra"}}, {"authid", "brd-a"}, {"roles", {{"callee", Value::object()}}}};
  feed(hello);
  auto challenge = transport->Next<wamp::Challenge>();
  auto key = ids::WampCraDeriveKey(kSecret, challenge.extra["salt"].get<std::string>(),
                                   challenge.extra["iterations"].get<int>(), challenge.extra["keylen"].get<int>());
  wamp::Authenticate auth;
  auth.signature = ids::WampCraSign(key, challenge.extra["challenge"].get<std::string>());
  feed(auth);
  transport->Next<wamp::Welcome>();
  const auto registered_at = std::chrono::steady_clock::now();
  wamp::Register reg;
  reg.request = 1;
  reg.procedure = "ew.board.brd-a.sys.info";
  feed(reg);
  transport->Next<wamp::Registered>();
  io.restart();
  io.run_for(std::chrono::milliseconds(60));
  EXPECT_FALSE(router.Presence("brd-a")) << "online before the grace ran out";
  while (!router.Presence("brd-a") && std::chrono::steady_clock::now() - registered_at < std::chrono::seconds(3)) {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(router.Presence("brd-a"));
  EXPECT_GE(std::chrono::steady_clock::now() - registered_at, std::chrono::milliseconds(150));
  EXPECT_EQ(registered, std::vector<std::string>{"sys.info"});
  EXPECT_NE(metrics.RenderPrometheus().find("ew_boards_ready_by_grace_total 1"), std::string::npos) << metrics.RenderPrometheus();
}

}  // namespace
}  // namespace ew::router
