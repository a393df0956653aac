#include "device-agent/session/cra_key.hpp"

#include <gtest/gtest.h>

namespace ew::agent::session {
namespace {

// Vectors computed with Autobahn|Python (autobahn.wamp.auth.derive_key / compute_wcs), the
// reference WAMP-CRA implementation.
TEST(CraKeyTest, SaltedMatchesAutobahn) {
  CraKey key("secret123");
  EXPECT_EQ(key.Sign("{\"nonce\":\"abc\"}", "salt123", 1000, 32), "8xAPKbPsxfCFKz6H1roFoJf8DBlJFWc2j8HYr3YUB+Y=");
  // Cached key, same answer; a different challenge gives a different signature.
  EXPECT_EQ(key.Sign("{\"nonce\":\"abc\"}", "salt123", 1000, 32), "8xAPKbPsxfCFKz6H1roFoJf8DBlJFWc2j8HYr3YUB+Y=");
  EXPECT_NE(key.Sign("{\"nonce\":\"abd\"}", "salt123", 1000, 32), "8xAPKbPsxfCFKz6H1roFoJf8DBlJFWc2j8HYr3YUB+Y=");
}

TEST(CraKeyTest, UnsaltedUsesTheSecretAsKey) {
  CraKey key("plain-secret");
  EXPECT_EQ(key.Sign("challenge-text", "", 0, 0), "BeghGrIjOGGKyBBac5wFJYZg/pz1NfV35aA8Je+7+5w=");
}

TEST(CraKeyTest, NewSaltParametersDeriveAgain) {
  CraKey key("secret123");
  std::string a = key.Sign("c", "salt123", 1000, 32);
  std::string b = key.Sign("c", "salt124", 1000, 32);
  std::string c = key.Sign("c", "salt123", 1001, 32);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(key.Sign("c", "salt123", 1000, 32), a);
}

TEST(CraKeyTest, SaltWithoutParametersIsRejected) {
  CraKey key("s");
  EXPECT_THROW(key.Sign("c", "salt", 0, 32), std::invalid_argument);
  EXPECT_THROW(key.Sign("c", "salt", 10, 0), std::invalid_argument);
}

}  // namespace
}  // namespace ew::agent::session

namespace ew::agent::session {
namespace {

// Issue 11: a CHALLENGE with iterations = 2^31 froze the agent in PBKDF2.
TEST(CraKeyTest, Issue11ChallengeParametersAreBounded) {
  EXPECT_TRUE(CheckCraParameters("", 0, 0));                       // unsalted: nothing to derive
  EXPECT_TRUE(CheckCraParameters("", uint64_t{1} << 31, 1 << 20));  // ... whatever else it says
  EXPECT_TRUE(CheckCraParameters("salt", 1000, 32));                // what the conductor issues
  EXPECT_TRUE(CheckCraParameters("salt", kMaxCraIterations, kMaxCraKeylen));

  auto huge = CheckCraParameters("salt", uint64_t{1} << 31, 32);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(huge.error().message.find("iterations 2147483648 out of range (1..1000000)"), std::string::npos)
      << huge.error().message;
  EXPECT_FALSE(CheckCraParameters("salt", kMaxCraIterations + 1, 32));
  EXPECT_FALSE(CheckCraParameters("salt", 0, 32));
  auto keylen = CheckCraParameters("salt", 1000, 4096);
  ASSERT_FALSE(keylen);
  EXPECT_NE(keylen.error().message.find("keylen 4096"), std::string::npos);
  EXPECT_FALSE(CheckCraParameters("salt", 1000, 0));
  EXPECT_FALSE(CheckCraParameters(std::string(kMaxCraSaltBytes + 1, 's'), 1000, 32));

  // Sign enforces the same bounds before deriving anything (this returns at once).
  CraKey key("s");
  EXPECT_THROW(key.Sign("c", "salt", 2'000'000'000, 32), std::invalid_argument);
  EXPECT_THROW(key.Sign("c", "salt", 1000, 1025), std::invalid_argument);
}

}  // namespace
}  // namespace ew::agent::session
