#include "flows/nodes/cron_schedule.hpp"

#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>

namespace ew::flows::nodes {
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

}  // namespace
}  // namespace ew::flows::nodes
