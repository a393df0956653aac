#include "device-agent/tls/conductor_trust.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/device-agent/tls/test_certs.hpp"

namespace ew::agent::tls {
namespace {

namespace fs = std::filesystem;

const std::string kHex = "400836aa9a8852f73f0b69bbbcfe883ccc27aaea70a4f6c37b4fc925d1e3dbee";

TEST(ConductorTrustTest, PinsInTheFormsOpensslPrints) {
  EXPECT_EQ(*NormalizePin("sha256:" + kHex), "sha256:" + kHex);
  // `openssl x509 -fingerprint -sha256`: upper case with colons.
  std::string colons;
  for (size_t i = 0; i < kHex.size(); i += 2) colons += (i ? ":" : "") + kHex.substr(i, 2);
  for (auto& c : colons) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(*NormalizePin("sha256:" + colons), "sha256:" + kHex);
  // base64 of the digest (`openssl dgst -sha256 -binary | base64`).
  EXPECT_EQ(*NormalizePin("sha256:QAg2qpqIUvc/C2m7vP6IPMwnqupwpPbDe0/JJdHj2+4="), "sha256:" + kHex);

  for (const char* bad : {"", "sha256:", "sha1:abcd", "400836aa", "sha256:abcd", "sha256:zz",
                          "sha256:QAg2qpqIUvc/C2m7vP6IPMwnqupwpPbDe0/JJdHj2+4", "sha256:!Ag2qpqIUvc/C2m7vP6IPMwnqupwpPbDe0/JJdHj2+4="}) {
    auto pin = NormalizePin(bad);
    EXPECT_FALSE(pin) << bad;
    if (!pin) {
      EXPECT_NE(pin.error().message.find("--pin"), std::string::npos);
    }
  }
}

class TrustFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ew-trust-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(TrustFileTest, CaFileIsReadOnceAndKept) {
  auto trust = MakeTrust(Write("ca.pem", testing::kTestCa), "", false);
  ASSERT_TRUE(trust) << trust.error().message;
  EXPECT_EQ(trust->ca_pem, testing::kTestCa);
  EXPECT_EQ(Describe(*trust), "the CA file " + (dir_ / "ca.pem").string());
  EXPECT_FALSE(trust->insecure);

  auto system = MakeTrust("", "", true);
  ASSERT_TRUE(system);
  EXPECT_TRUE(system->ca_pem.empty());
  EXPECT_TRUE(system->insecure);
  EXPECT_EQ(Describe(*system), "the system CAs");

  auto pinned = MakeTrust("", "sha256:" + kHex, false);
  ASSERT_TRUE(pinned);
  EXPECT_EQ(Describe(*pinned), "the pin sha256:" + kHex);
}

TEST_F(TrustFileTest, BadTrustIsRefusedWithTheOption) {
  auto both = MakeTrust(Write("ca.pem", testing::kTestCa), "sha256:" + kHex, false);
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().message.find("not both"), std::string::npos);

  auto missing = MakeTrust((dir_ / "nope.pem").string(), "", false);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("--ca-file"), std::string::npos);

  auto not_pem = MakeTrust(Write("key.pem", testing::kServerKey), "", false);
  ASSERT_FALSE(not_pem);
  EXPECT_NE(not_pem.error().message.find("no PEM certificate"), std::string::npos) << not_pem.error().message;

  auto huge = MakeTrust(Write("huge.pem", std::string(kMaxCaFileBytes + 1, 'x')), "", false);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("larger than"), std::string::npos);

  EXPECT_FALSE(MakeTrust("", "sha256:nope", false));
}

}  // namespace
}  // namespace ew::agent::tls
