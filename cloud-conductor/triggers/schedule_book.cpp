#include "cloud-conductor/triggers/schedule_book.hpp"

#include <algorithm>

namespace ew::conductor::triggers {

void ScheduleBook::Add(const std::string& id, cron::CronSchedule schedule, TimePoint since) {
  auto next = schedule.Next(since);
  entries_.insert_or_assign(id, Entry{std::move(schedule), next});
}

void ScheduleBook::Remove(const std::string& id) { entries_.erase(id); }

std::vector<ScheduleBook::Due> ScheduleBook::TakeDue(TimePoint now) {
  std::vector<Due> due;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    if (e.next && *e.next <= now) {
      Due d{it->first, *e.next, false};
      auto following = e.schedule.Next(now);
      // Another time of the schedule passed between this one and now: it is skipped.
      auto after_this = e.schedule.Next(*e.next);
      d.late = after_this && *after_this <= now;
      due.push_back(std::move(d));
      e.next = following;
    }
    if (!e.next) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  std::sort(due.begin(), due.end(), [](const Due& a, const Due& b) { return a.scheduled < b.scheduled; });
  return due;
}

std::optional<ScheduleBook::TimePoint> ScheduleBook::NextFire(const std::string& id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? std::nullopt : it->second.next;
}

std::optional<ScheduleBook::TimePoint> ScheduleBook::Earliest() const {
  std::optional<TimePoint> earliest;
  for (const auto& [id, e] : entries_) {
    if (e.next && (!earliest || *e.next < *earliest)) earliest = e.next;
  }
  return earliest;
}

}  // namespace ew::conductor::triggers
