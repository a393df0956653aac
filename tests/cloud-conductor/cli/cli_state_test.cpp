#include "cloud-conductor/cli/cli_state.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "cloud-conductor/cli/http_client.hpp"

namespace ew::cli {
namespace {

namespace fs = std::filesystem;

TEST(StatePathTest, XdgThenHome) {
  EXPECT_EQ(*StatePath("/x/conf", "/home/u"), "/x/conf/edgewire/cli.json");
  EXPECT_EQ(*StatePath("", "/home/u"), "/home/u/.config/edgewire/cli.json");
  EXPECT_EQ(*StatePath("relative", "/home/u"), "/home/u/.config/edgewire/cli.json");
  EXPECT_FALSE(StatePath("", ""));
}

TEST(CliStateTest, SavesPrivatelyAndLoadsBack) {
  const fs::path root = fs::temp_directory_path() / ("ew-cli-state-" + std::to_string(::getpid()));
  fs::remove_all(root);
  const std::string path = (root / "edgewire" / "cli.json").string();

  auto empty = LoadState(path);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->token.empty());

  ASSERT_TRUE(SaveState(path, CliState{"http://c:8080", "ewt_abc", "alice"}));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(::stat((root / "edgewire").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);

  auto loaded = LoadState(path);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->url, "http://c:8080");
  EXPECT_EQ(loaded->token, "ewt_abc");
  EXPECT_EQ(loaded->user, "alice");

  std::ofstream(path) << "not json";
  EXPECT_FALSE(LoadState(path));
  fs::remove_all(root);
}

TEST(ParseUrlTest, Forms) {
  auto plain = ParseUrl("http://127.0.0.1:8080");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->scheme, "http");
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, "8080");
  EXPECT_EQ(plain->base_path, "");

  auto secure = ParseUrl("https://edge.example.com/api/");
  ASSERT_TRUE(secure);
  EXPECT_EQ(secure->port, "443");
  EXPECT_EQ(secure->base_path, "/api");

  auto v6 = ParseUrl("http://[::1]:9000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "9000");

  for (const std::string bad : {"127.0.0.1:8080", "ftp://x", "http://", "http://h:0", "http://h:99999", "http://h:x",
                                "http://u:p@h"})
    EXPECT_FALSE(ParseUrl(bad)) << bad;
}

}  // namespace
}  // namespace ew::cli
