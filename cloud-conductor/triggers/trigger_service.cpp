#include "cloud-conductor/triggers/trigger_service.hpp"

#include <boost/asio/post.hpp>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"

namespace ew::conductor::triggers {

namespace {

const ew::log::Logger Log{"triggers"};

// The event of an MQTT message: its payload as JSON when it parses (guarded, as every untrusted
// input), else as a string; bytes that are not UTF-8 become U+FFFD (JSON strings are UTF-8).
nlohmann::json EventOf(const std::string& payload, size_t max_bytes) {
  ew::json::ParseLimits limits;
  limits.max_bytes = max_bytes;
  limits.max_depth = 32;
  limits.what = "MQTT payload";
  if (auto parsed = ew::json::Parse(payload, limits)) return std::move(*parsed);
  return nlohmann::json::parse(
      nlohmann::json(payload).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Clock::TimePoint FromUnix(int64_t seconds) { return Clock::TimePoint(std::chrono::seconds(seconds)); }

}  // namespace

struct TriggerService::Live {
  TriggerSpec spec;
  std::string state;
  int64_t last_fired_at = 0;
  uint64_t fire_count = 0;
  std::string last_error;
  int64_t last_error_at = 0;
  uint64_t skipped = 0;
  uint64_t dropped = 0;
  size_t in_flight = 0;
  std::unique_ptr<::ew::flows::nodes::MqttConnection> mqtt;
};

struct TriggerService::Book {
  explicit Book(const Clock& c) : clock(c) {}
  const Clock& clock;
  std::mutex mu;
  std::map<std::string, Live> live;  // GUARDED_BY(mu)
  ScheduleBook schedules;            // GUARDED_BY(mu)

  // Notes an error of `id` (mu held).
  void Failed(Live& t, std::string error) {
    t.last_error = std::move(error);
    t.last_error_at = UnixSeconds(clock.Now());
  }
};

TriggerService::TriggerService(TriggerStore& store, boost::asio::thread_pool& blocking, boost::asio::any_io_executor io,
                               const Clock& clock, Invoke invoke, TriggerOptions options)
    : store_(store),
      blocking_(blocking),
      timer_(io),
      clock_(clock),
      invoke_(std::move(invoke)),
      options_(std::move(options)),
      book_(std::make_shared<Book>(clock)) {}

TriggerService::~TriggerService() {
  alive_.reset();  // first: fires still queued on the pool find it expired
  Stop();
}

Result<void> TriggerService::Start() {
  EW_TRY(auto stored, store_.List(""));
  size_t started = 0;
  for (const auto& t : stored) {
    if (auto activated = Activate(t); !activated) {
      Log()->error("trigger {} not restored: {}", t.spec.id, activated.error().message);
      continue;
    }
    ++started;
  }
  if (!stored.empty()) Log()->info("{} of {} stored trigger(s) restored", started, stored.size());
  ArmTimer();
  return Ok();
}

void TriggerService::Stop() {
  if (stopped_) return;
  stopped_ = true;
  timer_.cancel();
  std::vector<std::unique_ptr<::ew::flows::nodes::MqttConnection>> closing;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    for (auto& [id, t] : book_->live) {
      if (t.mqtt) closing.push_back(std::move(t.mqtt));
    }
  }
  closing.clear();  // joins each connection's thread; its callbacks take the mutex
}

void TriggerService::ArmTimer() {
  if (stopped_) return;
  timer_.expires_after(options_.tick);
  timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    Tick();
    ArmTimer();
  });
}

Result<void> TriggerService::Activate(const StoredTrigger& stored) {
  const TriggerSpec& spec = stored.spec;
  Live live;
  live.spec = spec;
  live.fire_count = stored.fire_count;
  live.last_fired_at = stored.last_fired_at;
  if (spec.kind == TriggerKind::kSchedule) {
    EW_TRY(auto schedule, spec.Schedule());
    // From its last fire (or its creation): a time missed while the conductor was down fires once.
    const auto since = FromUnix(stored.last_fired_at > 0 ? stored.last_fired_at : spec.created_at);
    std::lock_guard<std::mutex> lock(book_->mu);
    book_->schedules.Add(spec.id, std::move(schedule), since);
    live.state = book_->schedules.NextFire(spec.id) ? "scheduled" : "finished";
    book_->live.insert_or_assign(spec.id, std::move(live));
    return Ok();
  }
  if (!options_.broker) {
    live.state = "off: no MQTT broker configured ([triggers] mqtt_broker)";
    std::lock_guard<std::mutex> lock(book_->mu);
    book_->live.insert_or_assign(spec.id, std::move(live));
    return Ok();
  }
  live.state = "connecting";
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    book_->live.insert_or_assign(spec.id, std::move(live));
  }
  const std::string id = spec.id;
  auto on_state = [this, id](bool connected, const std::string& detail) {
    std::lock_guard<std::mutex> lock(book_->mu);
    auto it = book_->live.find(id);
    if (it == book_->live.end()) return;
    it->second.state = connected ? "connected" : detail;
    if (!connected) book_->Failed(it->second, "broker: " + detail + " (reconnecting with backoff)");
    Log()->info("trigger {}: broker {}", id, connected ? "connected" : detail);
  };
  auto on_message = [this, id](std::string, std::string payload, int, bool retain) {
    // A retained message is the broker's stored last value, sent on every (re)subscribe: not a new
    // event. Firing on it would repeat a fire at each reconnect and conductor restart.
    if (retain) {
      std::lock_guard<std::mutex> lock(book_->mu);
      if (auto it = book_->live.find(id); it != book_->live.end()) ++it->second.skipped;
      return;
    }
    OnMessage(id, payload);
  };
  auto opened = ::ew::flows::nodes::MqttConnection::Open(*options_.broker, {{spec.topic, spec.qos}}, on_state, on_message);
  std::unique_ptr<::ew::flows::nodes::MqttConnection> orphan;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    auto it = book_->live.find(id);
    if (!opened) {
      if (it != book_->live.end()) {
        it->second.state = "failed: " + opened.error().message;
        book_->Failed(it->second, opened.error().message);
      }
      return tl::unexpected(opened.error());
    }
    if (it != book_->live.end()) {
      it->second.mqtt = std::move(*opened);
    } else {
      orphan = std::move(*opened);  // deleted while it connected: closed below, outside the lock
    }
  }
  return Ok();
}

void TriggerService::Deactivate(const std::string& id) {
  std::unique_ptr<::ew::flows::nodes::MqttConnection> closing;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    auto it = book_->live.find(id);
    if (it == book_->live.end()) return;
    closing = std::move(it->second.mqtt);
    book_->live.erase(it);
    book_->schedules.Remove(id);
  }
}

Result<TriggerStatus> TriggerService::Create(TriggerSpec spec) {
  if (spec.kind == TriggerKind::kMqtt && !options_.broker)
    return Unavailable("MQTT triggers are off on this conductor: no broker is configured ([triggers] mqtt_broker)");
  EW_TRY_VOID(store_.Insert(spec, options_.max_per_project));
  if (auto activated = Activate(StoredTrigger{spec, 0, 0}); !activated) {
    Deactivate(spec.id);
    (void)store_.Delete(spec.id);
    return tl::unexpected(activated.error());
  }
  Log()->info("trigger {} ({}) of function {} in project {} created", spec.id, KindName(spec.kind), spec.function_id,
              spec.project_id);
  return Get(spec.id);
}

Result<void> TriggerService::Delete(const std::string& id) {
  EW_TRY_VOID(store_.Delete(id));
  Deactivate(id);
  Log()->info("trigger {} deleted", id);
  return Ok();
}

// The stored trigger with its live status when it runs (book->mu held).
static TriggerStatus StatusOf(StoredTrigger stored, const std::map<std::string, TriggerService::Live>& live,
                              const ScheduleBook& schedules) {
  TriggerStatus status;
  status.spec = std::move(stored.spec);
  status.fire_count = stored.fire_count;
  status.last_fired_at = stored.last_fired_at;
  status.state = "inactive";  // not running: its stored spec is damaged, or its function is gone
  auto it = live.find(status.spec.id);
  if (it == live.end()) return status;
  const TriggerService::Live& t = it->second;
  status.state = t.state;
  status.fire_count = t.fire_count;
  status.last_fired_at = t.last_fired_at;
  status.last_error = t.last_error;
  status.last_error_at = t.last_error_at;
  status.skipped = t.skipped;
  status.dropped = t.dropped;
  if (auto next = schedules.NextFire(status.spec.id)) status.next_fire_at = UnixSeconds(*next);
  return status;
}

Result<TriggerStatus> TriggerService::Get(const std::string& id) {
  EW_TRY(auto stored, store_.Get(id));
  std::lock_guard<std::mutex> lock(book_->mu);
  return StatusOf(std::move(stored), book_->live, book_->schedules);
}

Result<std::vector<TriggerStatus>> TriggerService::List(const std::string& project_id) {
  EW_TRY(auto stored, store_.List(project_id));
  std::vector<TriggerStatus> out;
  out.reserve(stored.size());
  std::lock_guard<std::mutex> lock(book_->mu);
  for (auto& s : stored) out.push_back(StatusOf(std::move(s), book_->live, book_->schedules));
  return out;
}

void TriggerService::Tick() {
  std::vector<std::pair<std::string, nlohmann::json>> fires;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    const auto now = clock_.Now();
    for (auto& due : book_->schedules.TakeDue(now)) {
      auto it = book_->live.find(due.id);
      if (it == book_->live.end()) continue;
      if (!book_->schedules.NextFire(due.id)) it->second.state = "finished";
      nlohmann::json event = {{"trigger", due.id},
                              {"type", "schedule"},
                              {"schedule", it->second.spec.schedule},
                              {"scheduledAt", UnixSeconds(due.scheduled)},
                              {"firedAt", UnixSeconds(now)},
                              {"late", due.late}};
      if (due.late) Log()->info("trigger {}: fired late for {} (later times skipped)", due.id, UnixSeconds(due.scheduled));
      fires.emplace_back(due.id, std::move(event));
    }
  }
  for (auto& [id, event] : fires) Queue(id, std::move(event));
}

void TriggerService::OnMessage(const std::string& id, const std::string& payload) {
  std::optional<ThresholdCondition> condition;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    auto it = book_->live.find(id);
    if (it == book_->live.end()) return;
    if (payload.size() > options_.max_payload_bytes) {
      ++it->second.dropped;
      book_->Failed(it->second, "a payload of " + std::to_string(payload.size()) + " bytes is over the limit of " +
                                    std::to_string(options_.max_payload_bytes) + ": dropped");
      return;
    }
    condition = it->second.spec.condition;
  }
  nlohmann::json event = EventOf(payload, options_.max_payload_bytes);
  if (condition && !condition->Matches(event)) {
    std::lock_guard<std::mutex> lock(book_->mu);
    if (auto it = book_->live.find(id); it != book_->live.end()) ++it->second.skipped;
    return;
  }
  Queue(id, std::move(event));
}

void TriggerService::Queue(const std::string& id, nlohmann::json event) {
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    auto it = book_->live.find(id);
    if (it == book_->live.end()) return;
    Live& t = it->second;
    if (t.in_flight >= options_.max_in_flight_per_trigger) {
      ++t.dropped;
      book_->Failed(t, std::to_string(t.in_flight) + " fires in flight (the limit): dropped one");
      return;
    }
    ++t.in_flight;
  }
  // The fire's time is when it was due or delivered, not when the pool got to it.
  const int64_t at = UnixSeconds(clock_.Now());
  boost::asio::post(blocking_, [this, alive = std::weak_ptr<bool>(alive_), id, at, event = std::move(event)]() mutable {
    if (alive.expired()) return;
    Fire(id, std::move(event), at);
  });
}

void TriggerService::Fire(const std::string& id, nlohmann::json event, int64_t at) {
  TriggerSpec spec;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    auto it = book_->live.find(id);
    if (it == book_->live.end()) return;
    spec = it->second.spec;
  }
  std::weak_ptr<Book> weak_book = book_;
  auto done = [weak_book, id](std::string error) {
    auto book = weak_book.lock();
    if (!book) return;
    std::lock_guard<std::mutex> lock(book->mu);
    auto it = book->live.find(id);
    if (it == book->live.end()) return;
    if (it->second.in_flight > 0) --it->second.in_flight;
    if (!error.empty()) book->Failed(it->second, "invocation: " + error);
  };
  auto started = invoke_(spec, std::move(event), done);
  if (!started) {
    if (started.error().code == ErrorCode::kNotFound) {
      // Its function was deleted, and the trigger's row with it (ON DELETE CASCADE).
      Log()->info("trigger {}: function {} is gone, trigger retired", id, spec.function_id);
      Deactivate(id);
      return;
    }
    Log()->info("trigger {}: invocation of {} not started: {}", id, spec.function_id, started.error().message);
    std::lock_guard<std::mutex> lock(book_->mu);
    if (auto it = book_->live.find(id); it != book_->live.end()) {
      if (it->second.in_flight > 0) --it->second.in_flight;
      book_->Failed(it->second, "invocation not started: " + started.error().message);
    }
    return;
  }
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    if (auto it = book_->live.find(id); it != book_->live.end()) {
      ++it->second.fire_count;
      it->second.last_fired_at = std::max(it->second.last_fired_at, at);
    }
  }
  if (auto recorded = store_.RecordFire(id, at); !recorded)
    Log()->error("trigger {}: fire not recorded: {}", id, recorded.error().message);
}

}  // namespace ew::conductor::triggers
