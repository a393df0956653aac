// RevocationHub: listeners hear revocations; token expiry becomes a revocation at its time
// (ManualClock: an expiry already due fires at once, a later one does not).
#include "cloud-conductor/auth/revocation_hub.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace ew::auth {
namespace {

using namespace std::chrono_literals;

class RevocationHubTest : public ::testing::Test {
 protected:
  RevocationHubTest() {
    hub_.Subscribe([this](const Revocation& r) { heard_.push_back(r); });
  }
  int64_t Now() const { return UnixSeconds(clock_.Now()); }

  boost::asio::io_context io_;
  ManualClock clock_;
  RevocationHub hub_{io_.get_executor(), clock_};
  std::vector<Revocation> heard_;
};

TEST_F(RevocationHubTest, ListenersHearRevocationsUntilTheyUnsubscribe) {
  int other = 0;
  uint64_t id = hub_.Subscribe([&other](const Revocation&) { ++other; });
  Revocation r;
  r.kind = Revocation::Kind::kUser;
  r.id = "usr-1";
  r.message = "the user was deleted";
  hub_.Revoke(r);
  hub_.Unsubscribe(id);
  hub_.Revoke(r);
  EXPECT_EQ(other, 1);
  ASSERT_EQ(heard_.size(), 2u);
  EXPECT_TRUE(heard_[0].Covers("tok-x", "usr-1"));
  EXPECT_FALSE(heard_[0].Covers("tok-x", "usr-2"));
  EXPECT_EQ(hub_.ListenerCount(), 1u);
}

TEST_F(RevocationHubTest, AnExpiredTokenIsRevokedAtOnceAndOnlyOnce) {
  hub_.ExpireAt("tok-1", Now());
  hub_.ExpireAt("tok-1", Now());
  io_.poll();
  ASSERT_EQ(heard_.size(), 1u);
  EXPECT_EQ(heard_[0].kind, Revocation::Kind::kToken);
  EXPECT_EQ(heard_[0].id, "tok-1");
  EXPECT_EQ(heard_[0].reason_uri, "ew.close.token_expired");
  EXPECT_TRUE(heard_[0].Covers("tok-1", "usr-any"));
  EXPECT_EQ(hub_.PendingExpiries(), 0u);
}

TEST_F(RevocationHubTest, ALaterExpiryWaitsAndNeverIsNothing) {
  hub_.ExpireAt("tok-2", Now() + 3600);
  hub_.ExpireAt("tok-3", 0);
  io_.poll();
  EXPECT_TRUE(heard_.empty());
  EXPECT_EQ(hub_.PendingExpiries(), 1u);
}

TEST_F(RevocationHubTest, RevokingATokenCancelsItsExpiry) {
  hub_.ExpireAt("tok-4", Now() + 3600);
  Revocation r;
  r.id = "tok-4";
  r.message = "the API token was revoked";
  io_.poll();
  io_.restart();
  EXPECT_EQ(hub_.PendingExpiries(), 1u);
  hub_.Revoke(r);
  io_.poll();
  EXPECT_EQ(hub_.PendingExpiries(), 0u);
  ASSERT_EQ(heard_.size(), 1u);
  EXPECT_EQ(heard_[0].reason_uri, "ew.close.revoked");
}

}  // namespace
}  // namespace ew::auth
