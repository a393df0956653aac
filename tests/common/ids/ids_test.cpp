#include "common/ids/ids.hpp"

#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace ew::ids {
namespace {

TEST(IdsTest, IdsAreUniqueAndPrefixed) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = NewId("brd");
    EXPECT_EQ(id.rfind("brd-", 0), 0u);
    EXPECT_EQ(id.size(), 4u + 16u);
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(IdsTest, WampIdsAreInRange) {
  for (int i = 0; i < 1000; ++i) {
    auto id = NewWampId();
    EXPECT_GE(id, 1u);
    EXPECT_LE(id, uint64_t{1} << 53);
  }
}

TEST(IdsTest, Sha256MatchesKnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(IdsTest, Base64RoundTrips) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\1\2\xff", 4)}) {
    std::string back;
    ASSERT_TRUE(Base64Decode(Base64(s), &back)) << s;
    EXPECT_EQ(back, s);
  }
  std::string out;
  EXPECT_FALSE(Base64Decode("abc", &out));
  EXPECT_FALSE(Base64Decode("ab c", &out));
  EXPECT_FALSE(Base64Decode("a===", &out));
  EXPECT_EQ(Base64("\xff\xfe"), "//4=");
}

TEST(IdsTest, PasswordHashVerifiesOnlyTheRightPassword) {
  auto stored = HashPassword("correct horse", 1000);
  EXPECT_TRUE(VerifyPassword("correct horse", stored));
  EXPECT_FALSE(VerifyPassword("correct horse!", stored));
  EXPECT_FALSE(VerifyPassword("correct horse", "garbage"));
  EXPECT_FALSE(VerifyPassword("x", "pbkdf2-sha256$abc$x$y"));
}

TEST(IdsTest, WampCraMatchesReferenceVector) {
  // Salted WAMP-CRA: key = b64(PBKDF2-SHA256(secret, salt, 1000, 32)); sig = b64(HMAC(key, challenge)).
  auto key = WampCraDeriveKey("secret", "salt", 1000, 32);
  // Known answers from Autobahn|Python (autobahn.wamp.auth.derive_key / compute_wcs).
  EXPECT_EQ(key, "qN+JnzxPIE2WfgrWPAkph8EAVeuwF7PZ0ordIY1Peq0=");
  EXPECT_EQ(WampCraSign(key, "challenge"), "v+jLKn4z4EG3UX2nCKg5DrPh7e8YfZ0vNdM7IH72rlg=");
  auto sig1 = WampCraSign(key, "challenge");
  auto sig2 = WampCraSign(key, "challenge");
  EXPECT_EQ(sig1, sig2);
  EXPECT_NE(sig1, WampCraSign(key, "challengf"));
  EXPECT_NE(key, WampCraDeriveKey("secret", "salu", 1000, 32));
}

TEST(IdsTest, SecretsAreUrlSafe) {
  auto s = NewSecret(32);
  EXPECT_EQ(s.size(), 43u);
  EXPECT_EQ(s.find_first_of("+/="), std::string::npos);
}

}  // namespace
}  // namespace ew::ids
