#include "common/cron/cron_schedule.hpp"

#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>

namespace ew::cron {
namespace {

using std::chrono::system_clock;

system_clock::time_point At(int y, int mo, int d, int h, int mi, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
  return system_clock::from_time_t(timegm(&tm));
}

class CronTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

// The forms Node-RED's inject writes: "at a specific time" on days, "interval between times".
TEST_F(CronTest, InjectForms) {
  auto at_time = CronSchedule::Parse("30 14 * * 1,2,3,4,5");
  ASSERT_TRUE(at_time);
  // Friday 2026-12-04 15:00 → Monday 2026-12-07 14:30
  EXPECT_EQ(at_time->Next(At(2026, 12, 4, 15, 0)), At(2026, 12, 7, 14, 30));
  auto between = CronSchedule::Parse("*/10 9-17 * * *");
  ASSERT_TRUE(between);
  EXPECT_EQ(between->Next(At(2026, 12, 4, 17, 55)), At(2026, 12, 5, 9, 0));
  EXPECT_EQ(between->Next(At(2026, 12, 4, 9, 0)), At(2026, 12, 4, 9, 10));
  auto with_seconds = CronSchedule::Parse("15 * * * * *");
  ASSERT_TRUE(with_seconds);
  EXPECT_EQ(with_seconds->Next(At(2026, 12, 4, 9, 0, 20)), At(2026, 12, 4, 9, 1, 15));
  auto sunday7 = CronSchedule::Parse("0 0 * * 7");
  ASSERT_TRUE(sunday7);
  EXPECT_EQ(sunday7->Next(At(2026, 12, 4, 0, 0)), At(2026, 12, 6, 0, 0));
}

TEST_F(CronTest, RefusesWhatItDoesNotKnow) {
  EXPECT_FALSE(CronSchedule::Parse("* * *"));
  EXPECT_FALSE(CronSchedule::Parse("61 * * * *"));
  EXPECT_FALSE(CronSchedule::Parse("0 0 * * MON"));
  EXPECT_FALSE(CronSchedule::Parse("*/0 * * * *"));
}

// Schedule triggers: exactly five fields, UTC whatever TZ says, no Node-RED extras.
TEST(CronUtc, FiveFieldsOnlyInUtc) {
  setenv("TZ", "America/New_York", 1);
  tzset();
  const CronOptions utc{false, true};
  auto nine = CronSchedule::Parse("0 9 * * *", utc);
  ASSERT_TRUE(nine);
  // 09:00 UTC, not 09:00 in New York (14:00 UTC).
  EXPECT_EQ(nine->Next(At(2026, 12, 4, 9, 0)), At(2026, 12, 5, 9, 0));
  EXPECT_EQ(nine->Next(At(2026, 12, 4, 8, 59, 59)), At(2026, 12, 4, 9, 0));
  EXPECT_FALSE(CronSchedule::Parse("15 * * * * *", utc)) << "six fields";
  EXPECT_FALSE(CronSchedule::Parse("? * * * *", utc));
  EXPECT_FALSE(CronSchedule::Parse("", utc));
  setenv("TZ", "UTC", 1);
  tzset();
}

TEST(CronUtc, RangesListsSteps) {
  const CronOptions utc{false, true};
  auto s = CronSchedule::Parse("5-20/5,59 */6 1,15 1-3 *", utc);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->Next(At(2026, 12, 4, 0, 0)), At(2027, 1, 1, 0, 5));
  EXPECT_EQ(s->Next(At(2027, 1, 1, 0, 5)), At(2027, 1, 1, 0, 10));
  EXPECT_EQ(s->Next(At(2027, 1, 1, 0, 20)), At(2027, 1, 1, 0, 59));
  EXPECT_EQ(s->Next(At(2027, 1, 1, 0, 59)), At(2027, 1, 1, 6, 5));
  EXPECT_EQ(s->Next(At(2027, 1, 1, 18, 59)), At(2027, 1, 15, 0, 5));
  // Both day fields restricted: either matches (the 13th, or any Friday).
  auto either = CronSchedule::Parse("0 12 13 * 5", utc);
  ASSERT_TRUE(either);
  EXPECT_EQ(either->Next(At(2026, 12, 5, 0, 0)), At(2026, 12, 11, 12, 0));  // Friday 11th
  EXPECT_EQ(either->Next(At(2026, 12, 11, 12, 0)), At(2026, 12, 13, 12, 0));
  // A fraction of a second after a fire still gives the next one, never the same.
  auto every = CronSchedule::Parse("* * * * *", utc);
  ASSERT_TRUE(every);
  EXPECT_EQ(every->Next(At(2026, 12, 4, 9, 0) + std::chrono::milliseconds(300)), At(2026, 12, 4, 9, 1));
  // Never: February 30th.
  auto never = CronSchedule::Parse("0 0 30 2 *", utc);
  ASSERT_TRUE(never);
  EXPECT_FALSE(never->Next(At(2026, 12, 4, 0, 0)));
}

TEST(CronUtc, RefusalsNameTheField) {
  const CronOptions utc{false, true};
  for (const char* bad : {"60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "5-1 * * * *",
                          "1,,2 * * * *", "1, * * * *", "*/x * * * *", "1-5x * * * *", "-1 * * * *",
                          "99999999999 * * * *", "* * * JAN *"}) {
    auto parsed = CronSchedule::Parse(bad, utc);
    EXPECT_FALSE(parsed) << bad;
    if (!parsed) {
      EXPECT_NE(parsed.error().message.find("field"), std::string::npos) << parsed.error().message;
    }
  }
}

}  // namespace
}  // namespace ew::cron
