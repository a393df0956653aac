#include "cloud-conductor/tunnels/proxy_session_book.hpp"

#include <gtest/gtest.h>

#include "common/contract/tunnel.hpp"

namespace ew::conductor::tunnels {
namespace {

ProxyGrant Grant(const std::string& board = "brd-a", uint16_t port = 8080, int64_t token_expires_at = 0) {
  ProxyGrant g;
  g.user_id = "usr-1";
  g.token_id = "tok-1";
  g.project_id = "prj-1";
  g.board_id = board;
  g.port = port;
  g.token_expires_at = token_expires_at;
  return g;
}

ProxySessionOptions Options() {
  ProxySessionOptions o;
  o.login_ttl = std::chrono::seconds(60);
  o.session_ttl = std::chrono::seconds(900);
  o.max_entries = 4;
  return o;
}

TEST(ProxySessionBook, ALoginCodeBecomesOneSessionForItsBoardAndPort) {
  ManualClock clock;
  ProxySessionBook book(clock, Options());
  auto code = book.IssueLogin(Grant());
  ASSERT_TRUE(code) << code.error().message;
  EXPECT_TRUE(contract::tunnel::IsTokenShaped(*code));  // cookie- and URL-safe
  std::chrono::seconds lifetime{};
  auto session = book.RedeemLogin(*code, "brd-a", 8080, &lifetime);
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_NE(*session, *code);
  EXPECT_EQ(lifetime, std::chrono::seconds(900));
  auto grant = book.Check(*session, "brd-a", 8080);
  ASSERT_TRUE(grant) << grant.error().message;
  EXPECT_EQ(grant->user_id, "usr-1");
  // The code is spent; a code is never a session, a session never a code.
  EXPECT_EQ(book.RedeemLogin(*code, "brd-a", 8080, &lifetime).error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(book.Check(*code, "brd-a", 8080));
  EXPECT_FALSE(book.RedeemLogin(*session, "brd-a", 8080, &lifetime));
}

TEST(ProxySessionBook, AnotherBoardOrPortIsRefused) {
  ManualClock clock;
  ProxySessionBook book(clock, Options());
  std::chrono::seconds lifetime{};
  auto code = book.IssueLogin(Grant());
  EXPECT_FALSE(book.RedeemLogin(*code, "brd-a", 8081, &lifetime));  // and spent
  EXPECT_FALSE(book.RedeemLogin(*code, "brd-a", 8080, &lifetime));
  auto session = book.RedeemLogin(*book.IssueLogin(Grant()), "brd-a", 8080, &lifetime);
  ASSERT_TRUE(session);
  EXPECT_EQ(book.Check(*session, "brd-b", 8080).error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(book.Check(*session, "brd-a", 22).error().code, ErrorCode::kUnauthenticated);
  EXPECT_TRUE(book.Check(*session, "brd-a", 8080));  // still good where it belongs
  EXPECT_FALSE(book.Check(std::string(43, 'A'), "brd-a", 8080));
}

TEST(ProxySessionBook, CodesAndSessionsExpire) {
  ManualClock clock;
  ProxySessionBook book(clock, Options());
  std::chrono::seconds lifetime{};
  auto late = book.IssueLogin(Grant());
  clock.Advance(std::chrono::seconds(60));
  EXPECT_FALSE(book.RedeemLogin(*late, "brd-a", 8080, &lifetime));
  auto session = book.RedeemLogin(*book.IssueLogin(Grant()), "brd-a", 8080, &lifetime);
  clock.Advance(std::chrono::seconds(899));
  EXPECT_TRUE(book.Check(*session, "brd-a", 8080));
  clock.Advance(std::chrono::seconds(1));
  auto expired = book.Check(*session, "brd-a", 8080);
  ASSERT_FALSE(expired);
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos);
}

TEST(ProxySessionBook, ASessionNeverOutlivesItsApiToken) {
  ManualClock clock;
  ProxySessionBook book(clock, Options());
  const int64_t now = UnixSeconds(clock.Now());
  std::chrono::seconds lifetime{};
  auto session = book.RedeemLogin(*book.IssueLogin(Grant("brd-a", 8080, now + 100)), "brd-a", 8080, &lifetime);
  ASSERT_TRUE(session);
  EXPECT_EQ(lifetime, std::chrono::seconds(100));
  clock.Advance(std::chrono::seconds(100));
  EXPECT_FALSE(book.Check(*session, "brd-a", 8080));
  EXPECT_FALSE(book.IssueLogin(Grant("brd-a", 8080, now)));  // token already over
}

TEST(ProxySessionBook, RevocationEndsSessionsAndTheBookIsBounded) {
  ManualClock clock;
  ProxySessionBook book(clock, Options());
  std::chrono::seconds lifetime{};
  auto session = book.RedeemLogin(*book.IssueLogin(Grant()), "brd-a", 8080, &lifetime);
  ProxyGrant other = Grant();
  other.token_id = "tok-2";
  auto kept = book.RedeemLogin(*book.IssueLogin(other), "brd-a", 8080, &lifetime);
  EXPECT_EQ(book.Forget([](const ProxyGrant& g) { return g.token_id == "tok-1"; }), 1u);
  EXPECT_FALSE(book.Check(*session, "brd-a", 8080));
  EXPECT_TRUE(book.Check(*kept, "brd-a", 8080));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(book.IssueLogin(Grant()));
  auto full = book.IssueLogin(Grant());
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ErrorCode::kResourceExhausted);
  clock.Advance(std::chrono::seconds(61));  // the codes expire and are swept
  EXPECT_TRUE(book.IssueLogin(Grant()));
}

// Review 3, M3: one user's codes and sessions are capped, so one user cannot fill the book
// (max_entries) for every other; a redeemed code becomes a session in the same place.
TEST(ProxySessionBook, Review3OneUsersCodesAndSessionsAreCapped) {
  ManualClock clock;
  ProxySessionOptions options = Options();
  options.max_entries = 10;
  options.max_per_user = 2;
  ProxySessionBook book(clock, options);
  std::chrono::seconds lifetime{};
  auto code = book.IssueLogin(Grant());
  ASSERT_TRUE(code);
  auto session = book.RedeemLogin(*code, "brd-a", 8080, &lifetime);
  ASSERT_TRUE(session) << session.error().message;  // the code's place became the session's
  ASSERT_TRUE(book.IssueLogin(Grant()));
  auto third = book.IssueLogin(Grant());
  ASSERT_FALSE(third);
  EXPECT_EQ(third.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(third.error().message.find("proxy_sessions_per_user"), std::string::npos) << third.error().message;
  // Another user is not held back by the first one's.
  ProxyGrant other = Grant();
  other.user_id = "usr-2";
  EXPECT_TRUE(book.IssueLogin(other));
  EXPECT_TRUE(book.IssueLogin(other));
  EXPECT_FALSE(book.IssueLogin(other));
  // Places come back as codes expire (the session lives on).
  clock.Advance(std::chrono::seconds(61));
  EXPECT_TRUE(book.Check(*session, "brd-a", 8080));
  EXPECT_TRUE(book.IssueLogin(Grant()));
  EXPECT_FALSE(book.IssueLogin(Grant()));
}

}  // namespace
}  // namespace ew::conductor::tunnels
