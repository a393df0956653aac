// InspectPackage / ExtractPackage / PackDirectory. Hostile archives are built here with
// libarchive's write API, so each test controls exactly one bad entry.
#include "containers/package/package.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/ids/ids.hpp"

namespace ew::containers {
namespace {

namespace fs = std::filesystem;

const char* kSpec = R"({"name": "hello", "version": "1.0.0", "runtime": "sh", "entrypoint": "main.sh"})";

struct TarEntry {
  std::string path;
  mode_t type = AE_IFREG;  // AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFIFO
  std::string data;
  mode_t perm = 0644;
  std::string hardlink;  // non-empty: a hard link to this path
};
TarEntry File(std::string path, std::string data, mode_t perm = 0644) {
  return {std::move(path), AE_IFREG, std::move(data), perm, ""};
}
TarEntry Dir(std::string path, mode_t perm = 0755) { return {std::move(path), AE_IFDIR, "", perm, ""}; }
TarEntry Special(std::string path, mode_t type) { return {std::move(path), type, "", 0644, ""}; }
TarEntry HardLink(std::string path, std::string target) { return {std::move(path), AE_IFREG, "", 0644, std::move(target)}; }

la_ssize_t Append(archive*, void* out, const void* buffer, size_t length) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

// A tar (gzip-compressed unless told otherwise) holding exactly `entries`.
std::string MakeTar(const std::vector<TarEntry>& entries, bool gzip = true) {
  std::string out;
  std::unique_ptr<archive, int (*)(archive*)> writer(archive_write_new(), archive_write_free);
  archive* a = writer.get();
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  // No zero padding after the gzip stream, so that the tests below know where it ends.
  archive_write_set_bytes_in_last_block(a, 1);
  EXPECT_EQ(archive_write_open(a, &out, nullptr, Append, nullptr), ARCHIVE_OK);
  for (const TarEntry& e : entries) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.path.c_str());
    archive_entry_set_filetype(entry.get(), e.type);
    archive_entry_set_perm(entry.get(), e.perm);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(entry.get(), "/etc/passwd");
    if (e.type == AE_IFCHR) archive_entry_set_rdev(entry.get(), makedev(1, 3));
    if (!e.hardlink.empty()) archive_entry_set_hardlink(entry.get(), e.hardlink.c_str());
    archive_entry_set_size(entry.get(), e.type == AE_IFREG && e.hardlink.empty() ? e.data.size() : 0);
    EXPECT_EQ(archive_write_header(a, entry.get()), ARCHIVE_OK) << e.path << ": " << archive_error_string(a);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
  }
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
  return out;
}

// function.json + main.sh, plus `extra`.
std::string GoodTar(std::vector<TarEntry> extra = {}) {
  std::vector<TarEntry> entries = {File("function.json", kSpec), File("main.sh", "echo '{}'\n", 0755)};
  entries.insert(entries.end(), extra.begin(), extra.end());
  return MakeTar(entries);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const fs::path& path, const std::string& data, fs::perms perms = fs::perms(0644)) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << data;
  fs::permissions(path, perms);
}

mode_t ModeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "ew-package-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    root_ = name;
  }
  void TearDown() override { fs::remove_all(root_); }

  // Names directly in root_, to see that failures leave no temporary directories behind.
  std::vector<std::string> Listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(root_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  // A source tree for PackDirectory.
  fs::path MakeSourceTree() {
    const fs::path src = root_ / "src";
    WriteFile(src / "function.json", R"({"name": "hello", "version": "2", "runtime": "sh", "entrypoint": "main.sh",
      "implementations": [{"arch": "x86_64", "runtime": "native", "entrypoint": "bin/hello"}]})");
    WriteFile(src / "main.sh", "echo '{}'\n", fs::perms(0700));
    WriteFile(src / "lib" / "util.sh", "true\n", fs::perms(0600));
    WriteFile(src / "bin" / "hello", "\x7f" "ELF", fs::perms(0755));
    fs::create_directories(src / "data" / "empty");
    return src;
  }

  fs::path root_;
};

void ExpectError(const Result<Package>& result, ErrorCode code, const std::string& fragment) {
  ASSERT_FALSE(result) << "expected an error containing: " << fragment;
  EXPECT_EQ(result.error().code, code) << result.error().message;
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

TEST_F(PackageTest, InspectsAGoodPackage) {
  const std::string tar = GoodTar({Dir("lib", 0755), File("lib/x.sh", "abc")});
  auto package = InspectPackage(tar);
  ASSERT_TRUE(package) << package.error().message;
  EXPECT_EQ(package->spec.name, "hello");
  EXPECT_EQ(package->package_bytes, tar.size());
  EXPECT_EQ(package->unpacked_bytes, std::string(kSpec).size() + 10 + 3);
  EXPECT_EQ(package->sha256, ids::Sha256Hex(tar));
  EXPECT_EQ(package->sha256.size(), 64u);
  EXPECT_EQ(package->sha256.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST_F(PackageTest, DotSlashPrefixesAreNormalised) {
  const std::string tar = MakeTar({Dir("./", 0755),
                                   File("./function.json", kSpec),
                                   File("./main.sh", "echo\n", 0755),
                                   Dir("./lib/", 0755)});
  auto package = ExtractPackage(tar, root_ / "out");
  ASSERT_TRUE(package) << package.error().message;
  EXPECT_EQ(ReadFile(root_ / "out" / "main.sh"), "echo\n");
  EXPECT_TRUE(fs::is_directory(root_ / "out" / "lib"));
}

TEST_F(PackageTest, PackThenExtractKeepsContentAndSetsModes) {
  const fs::path src = MakeSourceTree();
  auto tar = PackDirectory(src);
  ASSERT_TRUE(tar) << tar.error().message;

  // A strict umask must not change the modes the contract promises.
  const mode_t old_umask = ::umask(077);
  auto package = ExtractPackage(*tar, root_ / "cache" / "abc");
  ::umask(old_umask);
  ASSERT_TRUE(package) << package.error().message;
  EXPECT_EQ(package->spec.version, "2");

  const fs::path out = root_ / "cache" / "abc";
  EXPECT_EQ(ReadFile(out / "function.json"), ReadFile(src / "function.json"));
  EXPECT_EQ(ReadFile(out / "main.sh"), "echo '{}'\n");
  EXPECT_EQ(ReadFile(out / "bin" / "hello"), "\x7f" "ELF");
  EXPECT_EQ(ModeOf(out), 0755u);
  EXPECT_EQ(ModeOf(out / "main.sh"), 0755u);  // 0700 had an execute bit
  EXPECT_EQ(ModeOf(out / "lib" / "util.sh"), 0644u);
  EXPECT_EQ(ModeOf(out / "lib"), 0755u);
  EXPECT_EQ(ModeOf(out / "data" / "empty"), 0755u);
  // Nothing else left beside the result.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root_ / "cache")) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"abc"});
}

TEST_F(PackageTest, SetuidAndOddModesAreNotRestored) {
  const std::string tar = GoodTar({File("suid", "x", 04755), File("secret", "x", 0600),
                                   File("open", "x", 0666), Dir("d", 0700)});
  ASSERT_TRUE(ExtractPackage(tar, root_ / "out"));
  EXPECT_EQ(ModeOf(root_ / "out" / "suid"), 0755u);
  EXPECT_EQ(ModeOf(root_ / "out" / "secret"), 0644u);
  EXPECT_EQ(ModeOf(root_ / "out" / "open"), 0644u);
  EXPECT_EQ(ModeOf(root_ / "out" / "d"), 0755u);
}

TEST_F(PackageTest, PackingIsDeterministic) {
  const fs::path src = MakeSourceTree();
  auto first = PackDirectory(src);
  ASSERT_TRUE(first) << first.error().message;
  // Different mtimes and a new file written and removed (which reorders some directories).
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    fs::last_write_time(e.path(), fs::file_time_type::clock::now() - std::chrono::hours(24 * 365));
  }
  WriteFile(src / "lib" / "tmp", "x");
  fs::remove(src / "lib" / "tmp");
  auto second = PackDirectory(src);
  ASSERT_TRUE(second);
  EXPECT_EQ(*first, *second);
  auto a = InspectPackage(*first);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->sha256, InspectPackage(*second)->sha256);
  // The gzip header's MTIME field (bytes 4..7) stays zero, so the hash does not change by the second.
  ASSERT_GT(first->size(), 10u);
  EXPECT_EQ(first->substr(4, 4), std::string(4, '\0'));
}

TEST_F(PackageTest, PackedEntriesAreSortedAndAnonymous) {
  const fs::path src = MakeSourceTree();
  auto tar = PackDirectory(src);
  ASSERT_TRUE(tar);
  std::unique_ptr<archive, int (*)(archive*)> reader(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(reader.get());
  archive_read_support_format_tar(reader.get());
  ASSERT_EQ(archive_read_open_memory(reader.get(), tar->data(), tar->size()), ARCHIVE_OK);
  std::vector<std::string> names;
  archive_entry* entry = nullptr;
  while (archive_read_next_header(reader.get(), &entry) == ARCHIVE_OK) {
    names.push_back(archive_entry_pathname(entry));
    EXPECT_EQ(archive_entry_mtime(entry), 0);
    EXPECT_EQ(archive_entry_uid(entry), 0);
    EXPECT_EQ(archive_entry_gid(entry), 0);
    const char* owner = archive_entry_uname(entry);
    EXPECT_TRUE(owner == nullptr || *owner == '\0') << owner;
  }
  const std::vector<std::string> expected = {"bin/",    "bin/hello",    "data/",   "data/empty/",
                                             "function.json", "lib/", "lib/util.sh", "main.sh"};
  EXPECT_EQ(names, expected);
}

TEST_F(PackageTest, PackRefusesLinksAndMissingSpec) {
  const fs::path src = MakeSourceTree();
  fs::create_symlink("/etc/passwd", src / "lib" / "link");
  auto tar = PackDirectory(src);
  ASSERT_FALSE(tar);
  EXPECT_EQ(tar.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(tar.error().message.find("lib/link"), std::string::npos) << tar.error().message;

  fs::remove(src / "lib" / "link");
  fs::remove(src / "function.json");
  tar = PackDirectory(src);
  ASSERT_FALSE(tar);
  EXPECT_EQ(tar.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(PackageTest, HostileEntriesAreRejected) {
  ExpectError(InspectPackage(GoodTar({File("../x", "x")})), ErrorCode::kInvalidArgument, "'..'");
  ExpectError(InspectPackage(GoodTar({File("lib/../../x", "x")})), ErrorCode::kInvalidArgument, "'..'");
  ExpectError(InspectPackage(GoodTar({File("/etc/x", "x")})), ErrorCode::kInvalidArgument, "absolute");
  ExpectError(InspectPackage(GoodTar({File("a//b", "x")})), ErrorCode::kInvalidArgument, "not normalised");
  ExpectError(InspectPackage(GoodTar({Special("link", AE_IFLNK)})), ErrorCode::kInvalidArgument, "symbolic link link");
  ExpectError(InspectPackage(GoodTar({HardLink("hard", "main.sh")})), ErrorCode::kInvalidArgument,
              "hard link hard");
  ExpectError(InspectPackage(GoodTar({Special("null", AE_IFCHR)})), ErrorCode::kInvalidArgument,
              "null is not a regular file or directory");
  ExpectError(InspectPackage(GoodTar({Special("fifo", AE_IFIFO)})), ErrorCode::kInvalidArgument, "fifo is not a regular");
  ExpectError(InspectPackage(GoodTar({File("main.sh", "again")})), ErrorCode::kInvalidArgument,
              "main.sh appears twice");
  ExpectError(InspectPackage(GoodTar({File("main.sh/x", "x")})), ErrorCode::kInvalidArgument,
              "below the file main.sh");
}

TEST_F(PackageTest, SpecProblemsAreRejected) {
  ExpectError(InspectPackage(MakeTar({File("main.sh", "x")})), ErrorCode::kInvalidArgument,
              "no function.json");
  // function.json must be at the top, not below it.
  ExpectError(InspectPackage(MakeTar({File("sub/function.json", kSpec), File("main.sh", "x")})),
              ErrorCode::kInvalidArgument, "no function.json");
  ExpectError(InspectPackage(MakeTar({File("function.json", "{"), File("main.sh", "x")})),
              ErrorCode::kInvalidArgument, "function.json: not valid JSON");
  ExpectError(InspectPackage(MakeTar({Dir("function.json"), File("main.sh", "x")})),
              ErrorCode::kInvalidArgument, "no function.json");
  const std::string bad_timeout =
      R"({"name": "hello", "version": "1", "runtime": "sh", "entrypoint": "main.sh", "timeoutMs": 0})";
  ExpectError(InspectPackage(MakeTar({File("function.json", bad_timeout), File("main.sh", "x")})),
              ErrorCode::kInvalidArgument, "function.json: timeoutMs: must be between 1 and 900000");
  ExpectError(InspectPackage(MakeTar({File("function.json", kSpec)})), ErrorCode::kInvalidArgument,
              "entrypoint: main.sh is not a file");
  // The entrypoint must be a file, not a directory.
  ExpectError(InspectPackage(MakeTar({File("function.json", kSpec), Dir("main.sh")})),
              ErrorCode::kInvalidArgument, "entrypoint: main.sh is not a file");
  const std::string with_impl = R"({"name": "hello", "version": "1", "runtime": "sh", "entrypoint": "main.sh",
    "implementations": [{"arch": "x86_64", "runtime": "native", "entrypoint": "bin/x"}]})";
  ExpectError(InspectPackage(MakeTar({File("function.json", with_impl), File("main.sh", "x")})),
              ErrorCode::kInvalidArgument, "implementations[0].entrypoint: bin/x is not a file");
}

TEST_F(PackageTest, LimitsGiveResourceExhausted) {
  const std::string tar = GoodTar({Dir("a"), File("a/b", std::string(1000, 'x'))});
  ASSERT_TRUE(InspectPackage(tar));

  PackageLimits limits;
  limits.max_entries = 3;  // function.json, main.sh, a, a/b
  ExpectError(InspectPackage(tar, limits), ErrorCode::kResourceExhausted, "more than 3 entries");
  // Directories implied by deep paths count too: they would be created on extraction.
  ExpectError(InspectPackage(GoodTar({File("x/y/z", "1")}), limits), ErrorCode::kResourceExhausted,
              "entries");

  limits = {};
  limits.max_unpacked_bytes = 1000;
  ExpectError(InspectPackage(tar, limits), ErrorCode::kResourceExhausted, "unpacks to more than 1000 bytes");

  limits = {};
  limits.max_package_bytes = tar.size() - 1;
  ExpectError(InspectPackage(tar, limits), ErrorCode::kResourceExhausted, "over the limit");
  limits.max_package_bytes = tar.size();
  EXPECT_TRUE(InspectPackage(tar, limits));
}

// Issue 11: a 40 KB upload of a few thousand-level-deep paths cost seconds of a pool thread
// (every entry re-walked and re-compared all its parents). Such paths are refused outright.
TEST_F(PackageTest, Issue11PathsDeeperThanTheCapAreRefused) {
  std::string deep;
  for (int i = 0; i < 2000; ++i) deep += "a/";
  std::vector<TarEntry> entries;
  for (int i = 0; i < 50; ++i) entries.push_back(File(deep + std::to_string(i), "x"));
  ExpectError(InspectPackage(GoodTar(entries)), ErrorCode::kInvalidArgument,
              "2001 directories deep, over the limit of 32");

  std::string at_cap;
  for (int i = 0; i < 31; ++i) at_cap += "d" + std::to_string(i) + "/";
  EXPECT_TRUE(InspectPackage(GoodTar({File(at_cap + "leaf", "x")})));
  ExpectError(InspectPackage(GoodTar({File(at_cap + "sub/leaf", "x")})), ErrorCode::kInvalidArgument,
              "33 directories deep");
  PackageLimits limits;
  limits.max_path_depth = 40;
  EXPECT_TRUE(InspectPackage(GoodTar({File(at_cap + "sub/leaf", "x")}), limits));
}

// Many long paths at the depth cap: each entry looks up only its parent once the parents are
// known, and every implied directory counts once toward max_entries.
TEST_F(PackageTest, ManyDeepEntriesCountEachImpliedDirectoryOnce) {
  std::string dir;
  for (int i = 0; i < 31; ++i) dir += std::string(120, static_cast<char>('a' + i % 26)) + "/";  // ~3.7 KB
  std::vector<TarEntry> entries;
  constexpr int kFiles = 1000;
  for (int i = 0; i < kFiles; ++i) entries.push_back(File(dir + "f" + std::to_string(i), ""));
  entries.push_back(File(dir.substr(0, dir.size() - 1) + "-sibling", ""));
  const std::string tar = GoodTar(entries);
  PackageLimits limits;
  limits.max_entries = 2 + 31 + kFiles + 1;  // function.json, main.sh, the directories, the files
  auto package = InspectPackage(tar, limits);
  ASSERT_TRUE(package) << package.error().message;
  limits.max_entries -= 1;
  ExpectError(InspectPackage(tar, limits), ErrorCode::kResourceExhausted, "entries");
  // Clashes are still found when a parent is known: a file under a file, a file twice.
  ExpectError(InspectPackage(GoodTar({File("x/y/e", ""), File("x/y/f", ""), File("x/y/f/g", "")})),
              ErrorCode::kInvalidArgument, "x/y/f/g is below the file x/y/f");
  ExpectError(InspectPackage(GoodTar({File("x/y/f", ""), File("x/y/f/g/h", "")})), ErrorCode::kInvalidArgument,
              "is below the file x/y/f");
  ExpectError(InspectPackage(GoodTar({File(dir + "f", ""), File(dir + "f", "")})), ErrorCode::kInvalidArgument,
              "appears twice");
  ExpectError(InspectPackage(GoodTar({File(dir + "f", ""), Dir(dir + "f")})), ErrorCode::kInvalidArgument,
              "appears twice");
  ExpectError(InspectPackage(GoodTar({File("x/y/z", ""), File("x/y", "")})), ErrorCode::kInvalidArgument,
              "x/y appears twice");
}

TEST_F(PackageTest, MalformedBytesAreInvalidArgument) {
  const std::string plain_tar = MakeTar({File("function.json", kSpec), File("main.sh", "x")}, false);
  ExpectError(InspectPackage(plain_tar), ErrorCode::kInvalidArgument, "not gzip");
  ExpectError(InspectPackage(""), ErrorCode::kInvalidArgument, "not gzip");
  ExpectError(InspectPackage("\x1f\x8bgarbage garbage garbage"), ErrorCode::kInvalidArgument, "gzip");

  const std::string good = GoodTar({File("big", std::string(100000, 'q'))});
  ASSERT_TRUE(InspectPackage(good));
  ExpectError(InspectPackage(good.substr(0, good.size() / 2)), ErrorCode::kInvalidArgument, "truncated gzip");
  // Cut inside the CRC trailer: libarchive alone would accept this (it stops at the tar end).
  ExpectError(InspectPackage(good.substr(0, good.size() - 4)), ErrorCode::kInvalidArgument, "truncated gzip");
  // A wrong CRC, and a flipped byte near the end of the deflate data (in the tar's zero padding,
  // which libarchive never reads).
  std::string bad_crc = good;
  bad_crc[bad_crc.size() - 8] ^= 0x55;
  ExpectError(InspectPackage(bad_crc), ErrorCode::kInvalidArgument, "corrupt gzip");
  std::string corrupt = good;
  corrupt[corrupt.size() - 12] ^= 0x55;
  // Depending on the bits, inflate sees bad data or runs on into the trailer: either is an error.
  ExpectError(InspectPackage(corrupt), ErrorCode::kInvalidArgument, "gzip stream");
  ExpectError(InspectPackage(good + "junk"), ErrorCode::kInvalidArgument, "data after the gzip stream");
  // Zero padding after the stream is what bsdtar writes: accepted.
  EXPECT_TRUE(InspectPackage(good + std::string(10240 - good.size() % 10240, '\0')));
}

TEST_F(PackageTest, GzipBombStopsBeforeTarParsing) {
  const std::string bomb = GoodTar({File("zeros", std::string(4 << 20, '\0'))});
  EXPECT_LT(bomb.size(), 64u * 1024);
  PackageLimits limits;
  limits.max_unpacked_bytes = 1000;
  limits.max_entries = 4;
  ExpectError(InspectPackage(bomb, limits), ErrorCode::kResourceExhausted, "bytes of tar");
}

TEST_F(PackageTest, ExtractIntoAnExistingDirectoryFailsAndLeavesItAlone) {
  fs::create_directories(root_ / "out");
  WriteFile(root_ / "out" / "mine", "keep");
  auto result = ExtractPackage(GoodTar(), root_ / "out");
  ExpectError(result, ErrorCode::kConflict, "already exists");
  EXPECT_EQ(ReadFile(root_ / "out" / "mine"), "keep");
  EXPECT_FALSE(fs::exists(root_ / "out" / "main.sh"));
  EXPECT_EQ(Listing(), std::vector<std::string>{"out"});

  // Even an empty directory is not replaced, nor a symlink followed.
  fs::create_directories(root_ / "empty");
  ExpectError(ExtractPackage(GoodTar(), root_ / "empty"), ErrorCode::kConflict, "already exists");
  EXPECT_TRUE(fs::is_empty(root_ / "empty"));
  fs::create_directory_symlink(root_ / "empty", root_ / "link");
  ExpectError(ExtractPackage(GoodTar(), root_ / "link"), ErrorCode::kConflict, "already exists");
  EXPECT_TRUE(fs::is_empty(root_ / "empty"));
}

TEST_F(PackageTest, FailedExtractLeavesNothing) {
  ExpectError(ExtractPackage(GoodTar({File("../escape", "x")}), root_ / "out"), ErrorCode::kInvalidArgument,
              "'..'");
  EXPECT_TRUE(Listing().empty());
  EXPECT_FALSE(fs::exists(root_.parent_path() / "escape"));
}

}  // namespace
}  // namespace ew::containers
