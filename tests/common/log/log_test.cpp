// Log lines cannot be forged by values from outside: Untrusted() and the loggers' own escaping.
#include "common/log/log.hpp"
#include "common/log/recent_lines.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ew::log {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(UntrustedTest, EscapesControlCharactersAndBackslashes) {
  EXPECT_EQ(Untrusted("pi-1"), "pi-1");
  EXPECT_EQ(Untrusted("pi\n2026-12-04T10:00:00.000 info  [router] admin joined"),
            "pi\\n2026-12-04T10:00:00.000 info  [router] admin joined");
  EXPECT_EQ(Untrusted("a\r\tb"), "a\\r\\tb");
  EXPECT_EQ(Untrusted(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(Untrusted("\x1b[31mred\x7f"), "\\x1b[31mred\\x7f");
  // A peer cannot write an escape that reads like one of ours.
  EXPECT_EQ(Untrusted("a\\nb"), "a\\\\nb");
  // UTF-8 passes as it is.
  EXPECT_EQ(Untrusted("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(UntrustedTest, BoundsTheLength) {
  const std::string big(100'000, 'x');
  const std::string shown = Untrusted(big, 16);
  EXPECT_EQ(shown, std::string(16, 'x') + "...(100000 bytes)");
  EXPECT_EQ(Untrusted(std::string(300, 'y')).size(), 256 + std::string("...(300 bytes)").size());
}

TEST(EscapeControlTest, LeavesBackslashesAndLength) {
  EXPECT_EQ(EscapeControl("a\\n\nb"), "a\\n\\nb");
  EXPECT_EQ(EscapeControl(std::string(1000, 'z')).size(), 1000u);
}

// What a logger writes to stderr while `body` runs.
template <typename Body>
std::string CaptureStderr(Body&& body) {
  char path[] = "/tmp/ew-log-test-XXXXXX";
  const int file = ::mkstemp(path);
  EXPECT_GE(file, 0);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(file, 2);
  body();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(file);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  ::unlink(path);
  return text.str();
}

TEST(LoggerTest, OneRecordIsOneLineWhateverItCarries) {
  auto logger = Get("logtest");
  const std::string out = CaptureStderr([&] {
    logger->info("board hello from host \"{}\"", "pi\n2026-12-04T10:00:00.000 error [router] forged\r");
    logger->flush();
  });
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_THAT(out, HasSubstr("host \"pi\\n2026-12-04T10:00:00.000 error [router] forged\\r\""));
  EXPECT_THAT(out, HasSubstr("[logtest]"));
  EXPECT_THAT(out, Not(HasSubstr("\r")));
}

TEST(LoggerTest, CleanMessagesAreUnchanged) {
  auto logger = Get("logtest");
  const std::string out = CaptureStderr([&] {
    logger->info("board={} enrolled", "brd-1");
    logger->flush();
  });
  EXPECT_THAT(out, HasSubstr("[logtest] board=brd-1 enrolled\n"));
}

// A file's Logger is its module's logger from Get, looked up once, the same from every thread.
const Logger kTestLog{"loggertest"};

TEST(LoggerTest, IsTheModulesLoggerFromEveryThread) {
  std::vector<spdlog::logger*> seen(8, nullptr);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < seen.size(); ++i) threads.emplace_back([&seen, i] { seen[i] = kTestLog().get(); });
  for (auto& t : threads) t.join();
  for (auto* logger : seen) EXPECT_EQ(logger, Get("loggertest").get());
  EXPECT_EQ(kTestLog()->name(), "loggertest");
}

// sys.logs (issue 16): every logger feeds one bounded ring of recent lines.
TEST(RecentLinesTest, KeepsTheNewestLinesOfEveryLoggerBounded) {
  EXPECT_TRUE(RecentLines(10).empty());  // off until enabled
  KeepRecentLines(4);
  KeepRecentLines(100);  // first call wins: the ring stays at 4
  Get("recent-a")->info("one");
  Get("recent-b")->warn("two\nforged line");
  Get("recent-a")->info("three");
  Get("recent-b")->error("four");
  Get("recent-a")->info("five");
  const std::vector<std::string> lines = RecentLines(100);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], HasSubstr("[recent-b] two\\nforged line"));
  EXPECT_THAT(lines[0], HasSubstr("warn"));
  EXPECT_THAT(lines[3], HasSubstr("info  [recent-a] five"));
  for (const auto& line : lines) EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  const std::vector<std::string> two = RecentLines(2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_THAT(two[0], HasSubstr("four"));
  EXPECT_THAT(two[1], HasSubstr("five"));
  // Below the level: not kept.
  Get("recent-a")->debug("hidden");
  EXPECT_THAT(RecentLines(1)[0], HasSubstr("five"));

  // Follow mode (issue 16): lines are numbered in the order logged, from 0; five so far.
  uint64_t next = 0;
  RecentLines(1, &next);
  EXPECT_EQ(next, 5u);
  EXPECT_EQ(NextRecentLineSeq(), 5u);
  RecentLinesPage page = RecentLinesSince(3, 100);
  ASSERT_EQ(page.lines.size(), 2u);
  EXPECT_THAT(page.lines[0], HasSubstr("four"));
  EXPECT_EQ(page.next_seq, 5u);
  EXPECT_EQ(page.skipped, 0u);
  EXPECT_TRUE(RecentLinesSince(5, 100).lines.empty());
  // Line 0 fell out of the 4-line ring: asking from 0 says one was skipped.
  page = RecentLinesSince(0, 2);
  EXPECT_EQ(page.skipped, 1u);
  ASSERT_EQ(page.lines.size(), 2u);
  EXPECT_THAT(page.lines[0], HasSubstr("two"));
  EXPECT_EQ(page.next_seq, 3u);  // at most 2 lines: the rest next time
  Get("recent-a")->info("six");
  page = RecentLinesSince(5, 100);
  ASSERT_EQ(page.lines.size(), 1u);
  EXPECT_THAT(page.lines[0], HasSubstr("six"));
  EXPECT_EQ(page.next_seq, 6u);
}

// sd-daemon prefixes only when $JOURNAL_STREAM names this process's stderr.
TEST(JournalTest, StderrIsJournalOnlyWhenJournalStreamNamesStderr) {
  struct stat st {};
  ASSERT_EQ(fstat(2, &st), 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(StderrIsJournal());
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  EXPECT_TRUE(StderrIsJournal());
  ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1)).c_str(), 1);
  EXPECT_FALSE(StderrIsJournal());
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(StderrIsJournal());
  ::unsetenv("JOURNAL_STREAM");
}

}  // namespace
}  // namespace ew::log
