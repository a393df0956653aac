#include "device-agent/credential/credential.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/device-agent/tls/test_certs.hpp"

namespace ew::agent {
namespace {

namespace fs = std::filesystem;

class CredentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ew-cred-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static Credential Sample() {
    Credential c;
    c.board_id = "brd-0123456789abcdef";
    c.secret = "s3cr3t-\"quoted\"";
    c.realm = "edgewire";
    c.wamp_url = "ws://127.0.0.1:8080/ws";
    c.salt = "salt";
    c.iterations = 1000;
    c.keylen = 32;
    c.conductor_url = "http://127.0.0.1:8080";
    return c;
  }

  static mode_t Mode(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  fs::path dir_;
};

TEST_F(CredentialTest, RoundTripWithPrivateModes) {
  fs::path path = dir_ / "state" / "agent.json";
  ::umask(022);
  ASSERT_TRUE(WriteCredential(path.string(), Sample()));
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(Mode(path.parent_path()), 0700u);

  auto read = ReadCredential(path.string());
  ASSERT_TRUE(read) << read.error().message;
  Credential want = Sample();
  EXPECT_EQ(read->board_id, want.board_id);
  EXPECT_EQ(read->secret, want.secret);
  EXPECT_EQ(read->realm, want.realm);
  EXPECT_EQ(read->wamp_url, want.wamp_url);
  EXPECT_EQ(read->salt, want.salt);
  EXPECT_EQ(read->iterations, want.iterations);
  EXPECT_EQ(read->keylen, want.keylen);
  EXPECT_EQ(read->conductor_url, want.conductor_url);
  // No temp file left beside it.
  int files = 0;
  for (auto& entry : fs::directory_iterator(path.parent_path())) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(CredentialTest, OverwriteReplacesAndStaysPrivate) {
  fs::path path = dir_ / "agent.json";
  ASSERT_TRUE(WriteCredential(path.string(), Sample()));
  ::chmod(path.c_str(), 0644);  // someone loosened it
  Credential second = Sample();
  second.board_id = "brd-second";
  ASSERT_TRUE(WriteCredential(path.string(), second));
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(ReadCredential(path.string())->board_id, "brd-second");
}

TEST_F(CredentialTest, ExistingParentKeepsItsMode) {
  fs::create_directories(dir_);
  fs::permissions(dir_, fs::perms(0755));
  ASSERT_TRUE(WriteCredential((dir_ / "agent.json").string(), Sample()));
  EXPECT_EQ(Mode(dir_), 0755u);
}

TEST_F(CredentialTest, MissingFileIsNotFound) {
  auto read = ReadCredential((dir_ / "nope.json").string());
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, ErrorCode::kNotFound);
}

TEST_F(CredentialTest, MalformedFilesAreInvalidArgument) {
  fs::create_directories(dir_);
  auto write = [&](const std::string& text) {
    std::ofstream(dir_ / "bad.json") << text;
    return ReadCredential((dir_ / "bad.json").string());
  };
  EXPECT_EQ(write("not json").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(write("[1,2]").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(write(R"({"board_id":"b","secret":"s","realm":"r"})").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(write(R"({"board_id":"b","secret":"s","realm":"r","wamp_url":"ws://x/ws","iterations":"many"})")
                .error()
                .code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(write(R"({"board_id":"b","secret":"s","realm":"r","wamp_url":"ws://x/ws","salt":"x"})").error().code,
            ErrorCode::kInvalidArgument);
}

// The trust chosen at enrolment comes back for `run`; files written before it existed read as
// "system CAs"; a malformed trust is refused.
TEST_F(CredentialTest, KeepsTheConductorTrust) {
  fs::path path = dir_ / "agent.json";
  Credential c = Sample();
  c.wamp_url = "wss://conductor.example:8443/ws";
  c.trust.ca_pem = testing::kTestCa;
  c.trust.ca_file = "/etc/edgewire/ca.pem";
  c.trust.insecure = true;
  ASSERT_TRUE(WriteCredential(path.string(), c));
  auto read = ReadCredential(path.string());
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->trust.ca_pem, testing::kTestCa);
  EXPECT_EQ(read->trust.ca_file, "/etc/edgewire/ca.pem");
  EXPECT_EQ(read->trust.pin, "");
  EXPECT_TRUE(read->trust.insecure);

  c.trust = {};
  c.trust.pin = "sha256:" + std::string(64, 'a');
  ASSERT_TRUE(WriteCredential(path.string(), c));
  EXPECT_EQ(ReadCredential(path.string())->trust.pin, c.trust.pin);

  std::ofstream(dir_ / "old.json") << R"({"board_id":"b","secret":"s","realm":"r","wamp_url":"ws://x/ws"})";
  auto old = ReadCredential((dir_ / "old.json").string());
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_TRUE(old->trust.ca_pem.empty());
  EXPECT_TRUE(old->trust.pin.empty());
  EXPECT_FALSE(old->trust.insecure);

  for (const char* tls : {R"("tls":"x")", R"("tls":{"pin":"sha256:zz"})", R"("tls":{"ca_pem":"not pem"})",
                          R"("tls":{"insecure":"yes"})"}) {
    std::ofstream(dir_ / "bad.json") << R"({"board_id":"b","secret":"s","realm":"r","wamp_url":"ws://x/ws",)" << tls << "}";
    auto bad = ReadCredential((dir_ / "bad.json").string());
    EXPECT_FALSE(bad) << tls;
    if (!bad) {
      EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
    }
  }
  c.trust.ca_pem = testing::kTestCa;  // with the pin: one or the other
  EXPECT_FALSE(WriteCredential(path.string(), c));
}

TEST_F(CredentialTest, RefusesToWriteAnIncompleteCredential) {
  Credential c = Sample();
  c.secret.clear();
  auto written = WriteCredential((dir_ / "agent.json").string(), c);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ / "agent.json"));
}

TEST_F(CredentialTest, UnwritableDirectoryIsReported) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  fs::create_directories(dir_);
  fs::permissions(dir_, fs::perms(0500));
  auto written = WriteCredential((dir_ / "agent.json").string(), Sample());
  fs::permissions(dir_, fs::perms(0700));
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, ErrorCode::kPermissionDenied);
}

// Issue 14: enrol checks before it spends the one-time code.
TEST_F(CredentialTest, WritableCheckRefusesAnExistingCredentialWithoutOverwrite) {
  const std::string path = (dir_ / "agent.json").string();
  ASSERT_TRUE(CheckCredentialWritable(path, false)) << "a missing directory is created";
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_EQ(Mode(dir_), 0700u);
  ASSERT_TRUE(WriteCredential(path, Sample()));
  auto refused = CheckCredentialWritable(path, false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_NE(refused.error().message.find("a credential exists already at " + path), std::string::npos);
  EXPECT_NE(refused.error().message.find("--force"), std::string::npos);
  EXPECT_TRUE(CheckCredentialWritable(path, true));
  EXPECT_EQ(ReadCredential(path)->board_id, Sample().board_id) << "the check changes nothing";
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.path().filename() != "agent.json";
  EXPECT_EQ(files, 0u) << "the probe file is removed";
}

TEST_F(CredentialTest, WritableCheckNamesTheDirectoryItCannotUse) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "a-file") << "x";  // a file where the directory should be: ENOTDIR
  auto refused = CheckCredentialWritable((dir_ / "a-file" / "agent.json").string(), false);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find((dir_ / "a-file").string()), std::string::npos) << refused.error().message;
}

}  // namespace
}  // namespace ew::agent
