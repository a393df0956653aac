// The start-up trim gives back resident pages of the program's own code and keeps it running,
// and trims once, after the first ready session only.
#include "device-agent/footprint/startup_trim.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string>

namespace ew::agent::footprint {
namespace {

// Rss (kB) of this test program's own mappings (/proc/self/smaps), its code included.
long ProgramRssKb() {
  std::ifstream maps("/proc/self/smaps");
  char exe[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  const std::string self = n > 0 ? std::string(exe, static_cast<size_t>(n)) : "";
  long rss = 0;
  bool ours = false;
  std::string line;
  while (std::getline(maps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < line.find(' ')) {
      ours = line.size() >= self.size() && line.compare(line.size() - self.size(), self.size(), self) == 0;
    } else if (ours && line.rfind("Rss:", 0) == 0) {
      rss += std::stol(line.substr(4));
    }
  }
  return rss;
}

// Touches code all over the program (the test framework's, the standard library's).
std::string Work() {
  std::ostringstream out;
  for (int i = 0; i < 100; ++i) out << i << ' ' << std::to_string(i * 1.5) << '\n';
  return out.str();
}

TEST(DropCleanProgramPages, GivesBackCodePagesAndTheProgramKeepsRunning) {
  const std::string before_work = Work();
  const long before = ProgramRssKb();
  ASSERT_GT(before, 0) << "no mapping of /proc/self/exe found";
  auto trimmed = DropCleanProgramPages();
  ASSERT_TRUE(trimmed) << trimmed.error().message;
  EXPECT_GE(trimmed->ranges, 2);  // at least the ELF header/rodata segment and the text
  EXPECT_GT(trimmed->advised_bytes, 0u);
  const long after = ProgramRssKb();
  EXPECT_LT(after, before) << "the program's resident pages did not shrink";
  // Same results after: the pages come back from the file, relocated data untouched.
  EXPECT_EQ(Work(), before_work);
}

TEST(StartupTrim, TrimsOnceAfterTheFirstReadySession) {
  boost::asio::io_context io;
  StartupTrim trim(io, StartupTrimOptions{std::chrono::milliseconds(0), true});
  io.run();
  EXPECT_EQ(trim.trims(), 0) << "no session yet: nothing to trim";
  io.restart();
  trim.OnReady("ws://127.0.0.1:1/ws", 1);
  trim.OnReady("ws://127.0.0.1:1/ws", 2);  // a reconnect before the timer fired
  io.run();
  EXPECT_EQ(trim.trims(), 1);
  io.restart();
  trim.OnReady("ws://127.0.0.1:1/ws", 3);
  io.run();
  EXPECT_EQ(trim.trims(), 1) << "a later session trims again";
}

TEST(StartupTrim, DisabledNeverTrims) {
  boost::asio::io_context io;
  StartupTrim trim(io, StartupTrimOptions{std::chrono::milliseconds(0), false});
  trim.OnReady("ws://127.0.0.1:1/ws", 1);
  io.run();
  EXPECT_EQ(trim.trims(), 0);
}

}  // namespace
}  // namespace ew::agent::footprint
