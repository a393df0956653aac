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
