#include "device-agent/rpc/sys_info.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "device-agent/rpc/sys_procedures.hpp"

namespace ew::agent::rpc {
namespace {

namespace fs = std::filesystem;

// A fake root with the files the collector reads.
class FakeRoot {
 public:
  FakeRoot() : dir_(fs::temp_directory_path() / ("ew-sysinfo-" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~FakeRoot() { fs::remove_all(dir_); }
  void Write(const std::string& path, const std::string& content) {
    fs::path file = dir_ / path.substr(1);
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
  }
  std::string path() const { return dir_.string(); }

 private:
  fs::path dir_;
};

TEST(SysInfoTest, RealSystemFieldsAreFilledAndSane) {
  SysInfoCollector collector("brd-1", "9.9.9");
  auto info = collector.Collect();
  EXPECT_EQ(info.board_id, "brd-1");
  EXPECT_EQ(info.agent_version, "9.9.9");
  EXPECT_FALSE(info.hostname.empty());
  EXPECT_FALSE(info.kernel.empty());
  EXPECT_FALSE(info.machine.empty());
  EXPECT_FALSE(info.os.empty());  // every Debian has /etc/os-release
  EXPECT_GT(info.uptime_seconds, 0);
  EXPECT_GE(info.agent_uptime_seconds, 0);
  EXPECT_LT(info.agent_uptime_seconds, 3600);
  ASSERT_EQ(info.load_average.size(), 3u);
  for (double load : info.load_average) EXPECT_GE(load, 0);
  EXPECT_GT(info.memory_total_bytes, 64ll << 20);
  EXPECT_GT(info.memory_available_bytes, 0);
  EXPECT_LE(info.memory_available_bytes, info.memory_total_bytes);
  EXPECT_GT(info.agent_rss_bytes, 0);
  EXPECT_LT(info.agent_rss_bytes, info.memory_total_bytes);
  EXPECT_GE(info.cpu_count, 1);
}

TEST(SysInfoTest, ReadsFakeFilesLikeARaspberryPi) {
  FakeRoot root;
  root.Write("/etc/os-release", "NAME=\"Raspbian\"\nPRETTY_NAME=\"Raspbian GNU/Linux 12 (bookworm)\"\nID=raspbian\n");
  root.Write("/proc/device-tree/model", std::string("Raspberry Pi 4 Model B Rev 1.4") + '\0');
  root.Write("/sys/class/dmi/id/product_name", "Not used when the device tree has a model\n");
  root.Write("/proc/uptime", "12345.67 45678.90\n");
  root.Write("/proc/loadavg", "0.52 0.58 0.59 1/123 4567\n");
  root.Write("/proc/meminfo", "MemTotal:        3884376 kB\nMemFree:  100 kB\nMemAvailable:    3012345 kB\n");
  root.Write("/proc/self/statm", "1000 200 100 10 0 300 0\n");

  SysInfoCollector collector("brd-pi", "1.0.0", root.path());
  auto info = collector.Collect();
  EXPECT_EQ(info.os, "Raspbian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(info.hardware, "Raspberry Pi 4 Model B Rev 1.4");
  EXPECT_DOUBLE_EQ(info.uptime_seconds, 12345.67);
  ASSERT_EQ(info.load_average.size(), 3u);
  EXPECT_DOUBLE_EQ(info.load_average[0], 0.52);
  EXPECT_DOUBLE_EQ(info.load_average[2], 0.59);
  EXPECT_EQ(info.memory_total_bytes, 3884376ll * 1024);
  EXPECT_EQ(info.memory_available_bytes, 3012345ll * 1024);
  EXPECT_EQ(info.agent_rss_bytes, 200ll * sysconf(_SC_PAGESIZE));
}

TEST(SysInfoTest, FallsBackToDmiAndToleratesMissingFiles) {
  FakeRoot root;
  root.Write("/sys/class/dmi/id/product_name", "Standard PC (Q35 + ICH9, 2009)\n");
  SysInfoCollector collector("brd-pc", "1.0.0", root.path());
  auto info = collector.Collect();
  EXPECT_EQ(info.hardware, "Standard PC (Q35 + ICH9, 2009)");
  EXPECT_EQ(info.os, "");
  EXPECT_EQ(info.uptime_seconds, 0);
  EXPECT_TRUE(info.load_average.empty());
  EXPECT_EQ(info.memory_total_bytes, 0);
  EXPECT_EQ(info.agent_rss_bytes, 0);
  EXPECT_FALSE(info.kernel.empty());  // uname(2) needs no files
}

TEST(SysInfoTest, Parsers) {
  EXPECT_EQ(ParseOsReleasePrettyName("PRETTY_NAME='Alpine Linux v3.19'\n"), "Alpine Linux v3.19");
  EXPECT_EQ(ParseOsReleasePrettyName("PRETTY_NAME=Plain\n"), "Plain");
  EXPECT_EQ(ParseOsReleasePrettyName("NAME=x\n"), "");
  EXPECT_EQ(ParseMeminfoBytes("MemTotalX: 5 kB\nMemTotal: 7 kB\n", "MemTotal"), 7 * 1024);
  EXPECT_EQ(ParseMeminfoBytes("HugePages_Total: 3\n", "HugePages_Total"), 3);
  EXPECT_EQ(ParseMeminfoBytes("MemFree: 1 kB\n", "MemTotal"), -1);
  EXPECT_EQ(ParseMeminfoBytes("MemTotal: lots\n", "MemTotal"), -1);
}

TEST(SysProceduresTest, InfoIsProto3JsonWithEveryField) {
  SysInfoCollector collector("brd-1", "1.2.3");
  auto reply = Info(collector);
  ASSERT_TRUE(reply) << reply.error().message;
  const auto& kw = reply->kwargs;
  EXPECT_EQ(kw["boardId"], "brd-1");
  EXPECT_EQ(kw["agentVersion"], "1.2.3");
  EXPECT_TRUE(kw["memoryTotalBytes"].is_string());  // proto3 JSON: int64 as a string
  EXPECT_TRUE(kw["cpuCount"].is_number_integer());
  EXPECT_TRUE(kw.contains("containerRuntime"));  // defaults printed too
  EXPECT_TRUE(reply->args.empty());
}

TEST(SysProceduresTest, PingEchoesStringsAndBytes) {
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  Request call;
  call.args = nlohmann::json::array({"hello"});
  auto reply = Ping("brd-1", call, now);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->kwargs["boardId"], "brd-1");
  EXPECT_EQ(reply->kwargs["boardTimeNs"], "1700000000000000000");
  EXPECT_EQ(reply->kwargs["echo"], "aGVsbG8=");  // bytes → base64

  call.args = nlohmann::json::array({nlohmann::json::binary({1, 2, 3})});
  reply = Ping("brd-1", call, now);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->kwargs["echo"], "AQID");

  call.args = nlohmann::json::array();
  reply = Ping("brd-1", call, now);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->kwargs["echo"], "");

  call.args = nlohmann::json::array({42});
  reply = Ping("brd-1", call, now);
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, ErrorCode::kInvalidArgument);
}

TEST(SysProceduresTest, TableHasInfoAndPing) {
  auto table = SysProcedures(std::make_shared<SysInfoCollector>("brd-1", "1"), "brd-1");
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table[0].suffix, "sys.info");
  EXPECT_EQ(table[1].suffix, "sys.ping");
  bool answered = false;
  table[1].handler(Request{}, [&](ew::Result<Reply> reply) {
    answered = true;
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->kwargs["boardId"], "brd-1");
  });
  EXPECT_TRUE(answered);
}

}  // namespace
}  // namespace ew::agent::rpc
