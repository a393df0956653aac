// Signing agent packages (issue 16 review): the operator's key pair, signatures over the exact
// bytes, and that the board's check (`openssl pkeyutl -verify -rawin`, in the update helper)
// accepts what the CLI signs and refuses what it should.
#include "cloud-conductor/cli/package_signing.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/ids/ids.hpp"

namespace ew::cli {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void Write(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class PackageSigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_);
    ASSERT_TRUE(GenerateSigningKey(dir_ / "op.key", dir_ / "op.pem"));
    ASSERT_TRUE(GenerateSigningKey(dir_ / "other.key", dir_ / "other.pem"));
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_ = fs::path(::testing::TempDir()) / ("signing-" + ids::NewId("t"));
  const std::string deb_ = "!<arch>\n" + std::string(100000, 'd');
};

TEST_F(PackageSigningTest, ASignatureVerifiesWithItsKeyOnly) {
  auto signature = SignPackage(Read(dir_ / "op.key"), deb_);
  ASSERT_TRUE(signature) << signature.error().message;
  EXPECT_EQ(signature->size(), 64u);
  EXPECT_TRUE(VerifyPackage(Read(dir_ / "op.pem"), deb_, *signature));
  EXPECT_TRUE(VerifyPackage(Read(dir_ / "op.key"), deb_, *signature)) << "a private key holds its public key";
  auto other = VerifyPackage(Read(dir_ / "other.pem"), deb_, *signature);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kPermissionDenied);
  std::string tampered = deb_;
  tampered[50000] ^= 1;
  EXPECT_EQ(VerifyPackage(Read(dir_ / "op.pem"), tampered, *signature).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(VerifyPackage(Read(dir_ / "op.pem"), deb_, signature->substr(0, 63)).error().code,
            ErrorCode::kPermissionDenied);
}

TEST_F(PackageSigningTest, KeysAreNeverOverwrittenAndThePrivateOneIsTheOwnersOnly) {
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "op.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string before = Read(dir_ / "op.key");
  auto again = GenerateSigningKey(dir_ / "op.key", dir_ / "new.pem");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kConflict);
  EXPECT_EQ(Read(dir_ / "op.key"), before);
  EXPECT_FALSE(fs::exists(dir_ / "new.pem"));
  auto fingerprint = PublicKeyOf(Read(dir_ / "op.key"));
  ASSERT_TRUE(fingerprint);
  EXPECT_EQ(fingerprint->fingerprint.size(), 16u);
  EXPECT_EQ(fingerprint->pem, Read(dir_ / "op.pem"));
  EXPECT_NE(PublicKeyOf(Read(dir_ / "other.pem"))->fingerprint, fingerprint->fingerprint);
}

TEST_F(PackageSigningTest, KeysThatAreNotEd25519AreRefused) {
  EXPECT_EQ(SignPackage("not a key", deb_).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(SignPackage(Read(dir_ / "op.pem"), deb_).error().code, ErrorCode::kInvalidArgument)
      << "a public key cannot sign";
  if (std::system("command -v openssl >/dev/null") != 0) GTEST_SKIP() << "no openssl CLI to make an RSA key";
  ASSERT_EQ(std::system(("openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 -out " +
                         (dir_ / "rsa.key").string() + " 2>/dev/null")
                            .c_str()),
            0);
  auto rsa = SignPackage(Read(dir_ / "rsa.key"), deb_);
  ASSERT_FALSE(rsa);
  EXPECT_NE(rsa.error().message.find("Ed25519"), std::string::npos);
}

// What the update helper runs on the board, against what this CLI signed (and the other way).
TEST_F(PackageSigningTest, TheBoardsOpensslCheckAgreesWithTheCli) {
  if (std::system("command -v openssl >/dev/null") != 0) GTEST_SKIP() << "no openssl CLI (the board's check)";
  Write(dir_ / "a.deb", deb_);
  Write(dir_ / "a.deb.sig", *SignPackage(Read(dir_ / "op.key"), deb_));
  auto verify = [&](const char* key) {
    return std::system(("openssl pkeyutl -verify -pubin -inkey " + (dir_ / key).string() + " -rawin -in " +
                        (dir_ / "a.deb").string() + " -sigfile " + (dir_ / "a.deb.sig").string() + " >/dev/null 2>&1")
                           .c_str());
  };
  EXPECT_EQ(verify("op.pem"), 0);
  EXPECT_NE(verify("other.pem"), 0);
  ASSERT_EQ(std::system(("openssl pkeyutl -sign -rawin -inkey " + (dir_ / "other.key").string() + " -in " +
                         (dir_ / "a.deb").string() + " -out " + (dir_ / "b.sig").string())
                            .c_str()),
            0);
  EXPECT_TRUE(VerifyPackage(Read(dir_ / "other.pem"), deb_, Read(dir_ / "b.sig")));
}

}  // namespace
}  // namespace ew::cli
