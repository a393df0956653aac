// Next-fire arithmetic under a ManualClock: on time, once per time, one late fire after downtime.
#include "cloud-conductor/triggers/schedule_book.hpp"

#include <ctime>

#include <gtest/gtest.h>

#include "common/clock/clock.hpp"

namespace ew::conductor::triggers {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

TimePoint Utc(int y, int mo, int d, int h, int mi, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

cron::CronSchedule Cron(const char* text) {
  auto s = cron::CronSchedule::Parse(text, {false, true});
  EXPECT_TRUE(s) << text;
  return *s;
}

TEST(ScheduleBook, FiresOnTimeAndOncePerTime) {
  ManualClock clock(Utc(2026, 12, 5, 9, 58, 30));
  ScheduleBook book;
  book.Add("every-minute", Cron("* * * * *"), clock.Now());
  book.Add("quarter", Cron("*/15 * * * *"), clock.Now());
  EXPECT_EQ(book.NextFire("every-minute"), Utc(2026, 12, 5, 9, 59));
  EXPECT_EQ(book.NextFire("quarter"), Utc(2026, 12, 5, 10, 0));
  EXPECT_EQ(book.Earliest(), Utc(2026, 12, 5, 9, 59));
  EXPECT_TRUE(book.TakeDue(clock.Now()).empty());
  clock.Advance(29s);  // 09:58:59: a second early
  EXPECT_TRUE(book.TakeDue(clock.Now()).empty());
  clock.Advance(1s);  // 09:59:00
  auto due = book.TakeDue(clock.Now());
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, "every-minute");
  EXPECT_EQ(due[0].scheduled, Utc(2026, 12, 5, 9, 59));
  EXPECT_FALSE(due[0].late);
  EXPECT_TRUE(book.TakeDue(clock.Now()).empty()) << "a time fires once";
  clock.Advance(500ms);
  EXPECT_TRUE(book.TakeDue(clock.Now()).empty());
  clock.Advance(60s);  // 10:00:00.5: both, oldest first
  due = book.TakeDue(clock.Now());
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].scheduled, Utc(2026, 12, 5, 10, 0));
  EXPECT_EQ(due[1].scheduled, Utc(2026, 12, 5, 10, 0));
  EXPECT_EQ(book.NextFire("quarter"), Utc(2026, 12, 5, 10, 15));
  // An hour of ticks each second fires "every-minute" exactly 60 times and "quarter" 4 times.
  std::map<std::string, int> fires;
  for (int i = 0; i < 3600; ++i) {
    clock.Advance(1s);
    for (const auto& d : book.TakeDue(clock.Now())) ++fires[d.id];
  }
  EXPECT_EQ(fires["every-minute"], 60);
  EXPECT_EQ(fires["quarter"], 4);
}

// The misfire policy: after downtime a schedule fires once, late, never once per missed time.
TEST(ScheduleBook, DowntimeGivesOneLateFireNotAStorm) {
  ManualClock clock(Utc(2026, 12, 5, 9, 0));
  ScheduleBook book;
  // Restored with its last fire at 08:30 while "now" is 09:00: 08:31 ... 09:00 were missed.
  book.Add("m", Cron("* * * * *"), Utc(2026, 12, 5, 8, 30));
  auto due = book.TakeDue(clock.Now());
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].scheduled, Utc(2026, 12, 5, 8, 31));
  EXPECT_TRUE(due[0].late);
  EXPECT_EQ(book.NextFire("m"), Utc(2026, 12, 5, 9, 1));
  EXPECT_TRUE(book.TakeDue(clock.Now()).empty());
  // A daily schedule whose one time was missed by a minute is late but not "skipping" anything.
  book.Add("daily", Cron("59 8 * * *"), Utc(2026, 12, 4, 9, 0));
  due = book.TakeDue(clock.Now());
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].scheduled, Utc(2026, 12, 5, 8, 59));
  EXPECT_FALSE(due[0].late);
  EXPECT_EQ(book.NextFire("daily"), Utc(2026, 12, 6, 8, 59));
  // A clock that jumps a week ahead at once: one fire each.
  clock.Advance(24h * 7);
  EXPECT_EQ(book.TakeDue(clock.Now()).size(), 2u);
  EXPECT_TRUE(book.TakeDue(clock.Now()).empty());
}

TEST(ScheduleBook, RemoveAndReplace) {
  ManualClock clock(Utc(2026, 12, 5, 9, 0));
  ScheduleBook book;
  book.Add("a", Cron("* * * * *"), clock.Now());
  book.Add("a", Cron("0 12 * * *"), clock.Now());  // replaced
  EXPECT_EQ(book.size(), 1u);
  EXPECT_EQ(book.NextFire("a"), Utc(2026, 12, 5, 12, 0));
  book.Remove("a");
  EXPECT_EQ(book.size(), 0u);
  EXPECT_FALSE(book.NextFire("a"));
  EXPECT_FALSE(book.Earliest());
  clock.Advance(24h);
  EXPECT_TRUE(book.TakeDue(clock.Now()).empty());
}

}  // namespace
}  // namespace ew::conductor::triggers
