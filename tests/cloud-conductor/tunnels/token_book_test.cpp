#include "cloud-conductor/tunnels/token_book.hpp"

#include <set>

#include <gtest/gtest.h>

#include "common/contract/tunnel.hpp"

namespace ew::conductor::tunnels {
namespace {

TokenGrant Grant(const std::string& board, uint64_t connection) {
  TokenGrant g;
  g.service_id = "svc-1";
  g.board_id = board;
  g.session_id = 7;
  g.connection_id = connection;
  return g;
}

TEST(TokenBook, ATokenIsRedeemedOnceForItsBoard) {
  ManualClock clock;
  TokenBook book(clock, std::chrono::seconds(10));
  const std::string token = book.Issue(Grant("brd-a", 1));
  EXPECT_TRUE(contract::tunnel::IsTokenShaped(token));
  auto grant = book.Redeem(token, "brd-a");
  ASSERT_TRUE(grant) << grant.error().message;
  EXPECT_EQ(grant->connection_id, 1u);
  EXPECT_EQ(grant->session_id, 7u);
  auto again = book.Redeem(token, "brd-a");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(book.size(), 0u);
}

TEST(TokenBook, ForgedForeignAndExpiredTokensAreRefusedAndSpent) {
  ManualClock clock;
  TokenBook book(clock, std::chrono::seconds(10));
  const std::string token = book.Issue(Grant("brd-a", 1));
  EXPECT_EQ(book.Redeem(std::string(43, 'A'), "brd-a").error().code, ErrorCode::kPermissionDenied);
  // Presented for another board: refused, and spent (a guess at the board costs the token).
  auto foreign = book.Redeem(token, "brd-b");
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().message.find("not the board it was issued to"), std::string::npos);
  EXPECT_FALSE(book.Redeem(token, "brd-a"));

  const std::string late = book.Issue(Grant("brd-a", 2));
  clock.Advance(std::chrono::seconds(10));
  auto expired = book.Redeem(late, "brd-a");
  ASSERT_FALSE(expired);
  EXPECT_NE(expired.error().message.find("expired"), std::string::npos);
}

TEST(TokenBook, ExpireAndForgetWithdrawTokens) {
  ManualClock clock;
  TokenBook book(clock, std::chrono::seconds(10));
  const std::string first = book.Issue(Grant("brd-a", 1));
  clock.Advance(std::chrono::seconds(5));
  const std::string second = book.Issue(Grant("brd-a", 2));
  const std::string third = book.Issue(Grant("brd-a", 3));
  EXPECT_TRUE(book.Forget(third));
  EXPECT_FALSE(book.Forget(third));
  clock.Advance(std::chrono::seconds(6));
  auto expired = book.Expire();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].connection_id, 1u);
  EXPECT_TRUE(book.Redeem(second, "brd-a"));
  EXPECT_FALSE(book.Redeem(first, "brd-a"));
}

TEST(TokenBook, TokensAreDistinct) {
  ManualClock clock;
  TokenBook book(clock, std::chrono::seconds(10));
  std::set<std::string> seen;
  for (uint64_t i = 0; i < 1000; ++i) seen.insert(book.Issue(Grant("brd-a", i)));
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(book.size(), 1000u);
}

}  // namespace
}  // namespace ew::conductor::tunnels
