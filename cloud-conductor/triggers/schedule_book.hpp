// When each schedule trigger fires next, as pure time arithmetic on the times a Clock gives (the
// service's timer asks TakeDue every tick; tests move a ManualClock and ask the same). Not
// thread-safe: the TriggerService holds it under its mutex.
//
// Misfires: a trigger fires at most once per TakeDue, however many of its times passed since the
// last call, and then waits for its first time after `now`. So a conductor that was down (or a
// timer that was late) gives one late fire, never a catch-up storm. At a restart the service adds
// each trigger with `since` = its last fire (or its creation), so a time missed while the
// conductor was down fires once, late, at the first tick.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cron/cron_schedule.hpp"

namespace ew::conductor::triggers {

class ScheduleBook {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  struct Due {
    std::string id;
    TimePoint scheduled;  // the schedule's time this fire stands for
    bool late = false;    // a later time of the schedule had passed too (skipped: at most one fire)
  };

  // Adds (or replaces) `id`: its next fire is the schedule's first time after `since`.
  void Add(const std::string& id, cron::CronSchedule schedule, TimePoint since);
  void Remove(const std::string& id);
  // The triggers whose next fire is at or before `now`, oldest first; each moves on to its first
  // time after `now`. A schedule with no time left (none in 5 years) is dropped after its fire.
  std::vector<Due> TakeDue(TimePoint now);
  // nullopt when `id` is unknown or never fires again.
  std::optional<TimePoint> NextFire(const std::string& id) const;
  // The earliest next fire of all (for the timer), nullopt when none.
  std::optional<TimePoint> Earliest() const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    cron::CronSchedule schedule;
    std::optional<TimePoint> next;
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace ew::conductor::triggers
