// The conductor's store of agent packages: a package and its operator's signature are kept
// together on disk (no registry record) and survive a restart; issue 16 review (signed updates).
#include "cloud-conductor/agents/agent_package_store.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/contract/update.hpp"
#include "common/ids/ids.hpp"

namespace ew::conductor::agents {
namespace {

namespace fs = std::filesystem;

// Writes one archive (ar or tar) of `members` into a string with libarchive.
std::string Archive(bool ar, const std::vector<std::pair<std::string, std::string>>& members) {
  std::string out(1 << 16, '\0');
  size_t used = 0;
  archive* a = archive_write_new();
  if (ar) {
    archive_write_set_format_ar_svr4(a);
  } else {
    archive_write_set_format_ustar(a);
  }
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open_memory(a, out.data(), out.size(), &used);
  for (const auto& [name, bytes] : members) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(bytes.size()));
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_write_header(a, entry);
    archive_write_data(a, bytes.data(), bytes.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

std::string AgentDeb(const std::string& version) {
  const std::string control = "Package: edgewire-agent\nVersion: " + version + "\nArchitecture: arm64\n";
  return Archive(true, {{"debian-binary", "2.0\n"},
                        {"control.tar", Archive(false, {{"./control", control}})},
                        {"data.tar", Archive(false, {})}});
}

class AgentPackageStoreTest : public ::testing::Test {
 protected:
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_ = fs::path(::testing::TempDir()) / ("agent-packages-" + ids::NewId("t"));
  const std::string signature_ = std::string(contract::update::kSignatureBytes, '\x11');
};

TEST_F(AgentPackageStoreTest, APackageKeepsItsSignatureAcrossARestart) {
  AgentPackageStore store(dir_);
  ASSERT_TRUE(store.Open());
  const std::string deb = AgentDeb("0.1.0-2");
  auto put = store.Put(deb, signature_, 100);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->version, "0.1.0-2");
  EXPECT_EQ(put->architecture, "arm64");
  EXPECT_EQ(put->signature, signature_);
  EXPECT_TRUE(fs::exists(dir_ / (put->sha256 + ".sig")));

  AgentPackageStore reopened(dir_);
  ASSERT_TRUE(reopened.Open());
  auto got = reopened.Get(ids::Sha256Hex(deb));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->signature, signature_);
}

TEST_F(AgentPackageStoreTest, TheSameBytesSignedAgainKeepTheNewSignature) {
  AgentPackageStore store(dir_);
  ASSERT_TRUE(store.Open());
  const std::string deb = AgentDeb("0.1.0-2");
  ASSERT_TRUE(store.Put(deb, signature_, 100));
  const std::string other(contract::update::kSignatureBytes, '\x22');
  auto again = store.Put(deb, other, 200);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->signature, other);
  EXPECT_EQ(store.Get(again->sha256)->signature, other);
  // Without a signature, the same bytes are the package as it is.
  EXPECT_EQ(store.Put(deb, "", 300)->signature, other);
  EXPECT_EQ(store.List().size(), 1u);
}

TEST_F(AgentPackageStoreTest, ASignatureOfAnotherLengthIsRefusedAndNothingIsStored) {
  AgentPackageStore store(dir_);
  ASSERT_TRUE(store.Open());
  auto put = store.Put(AgentDeb("0.1.0-2"), "short", 100);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store.List().empty());
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(AgentPackageStoreTest, AStoredSignatureThatIsNotOneIsDropped) {
  const std::string deb = AgentDeb("0.1.0-2");
  {
    AgentPackageStore store(dir_);
    ASSERT_TRUE(store.Open());
    ASSERT_TRUE(store.Put(deb, signature_, 100));
  }
  std::ofstream(dir_ / (ids::Sha256Hex(deb) + ".sig"), std::ios::trunc) << "garbage";
  AgentPackageStore reopened(dir_);
  ASSERT_TRUE(reopened.Open());
  EXPECT_EQ(reopened.Get(ids::Sha256Hex(deb))->signature, "");
}

}  // namespace
}  // namespace ew::conductor::agents
