#include "cloud-conductor/triggers/trigger_service.hpp"

#include <atomic>
#include <set>

#include <boost/asio/post.hpp>

#include "flows/nodes/mosquitto_library.hpp"

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

// A trigger's lastError for a payload it dropped unread.
std::string OverPayloadLimit(size_t size, size_t limit) {
  return "a payload of " + std::to_string(size) + " bytes is over the limit of " + std::to_string(limit) + ": dropped";
}

// Why a message was dropped for a trigger already running its limit of fires.
std::string InFlightFull(size_t in_flight) { return std::to_string(in_flight) + " fires in flight (the limit): dropped one"; }

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
  std::string broker_filter;  // mqtt: the filter subscribed for it (its project's namespace)
};

struct TriggerService::Book {
  explicit Book(const Clock& c) : clock(c) {}
  const Clock& clock;
  std::mutex mu;
  std::map<std::string, Live> live;  // GUARDED_BY(mu)
  ScheduleBook schedules;            // GUARDED_BY(mu)

  // One subscription per distinct broker filter, shared by the triggers that have it.
  struct Filter {
    uint32_t subscription = 0;           // MqttConnection::Subscribe's id
    int qos = 0;                         // the highest qos of its triggers
    std::set<std::string> triggers;
    std::string state = "subscribing";   // "connected" or "refused by the broker: <why>" after SUBACK
  };
  std::map<std::string, Filter> filters;        // GUARDED_BY(mu): by broker filter
  std::map<uint32_t, std::string> filter_of;    // GUARDED_BY(mu): subscription id → broker filter
  // Each project's message budget (TriggerOptions::max_messages_per_second_per_project).
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at{};
  };
  std::map<std::string, Bucket> budgets;        // GUARDED_BY(mu): by project id
  bool connected = false;                       // GUARDED_BY(mu)
  std::string connection_state = "connecting";  // GUARDED_BY(mu)

  // Takes one message from `project`'s budget of `rate` per second (as many at once); false when
  // it is spent (mu held).
  bool Spend(const std::string& project, double rate) {
    const auto now = clock.Steady();
    auto [it, fresh] = budgets.try_emplace(project, Bucket{rate, now});  // a new project starts full
    Bucket& b = it->second;
    if (!fresh) {
      const double elapsed = std::chrono::duration<double>(now - b.at).count();
      b.tokens = std::min(rate, b.tokens + elapsed * rate);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  // An MQTT trigger's state: the connection's until it is connected, then its filter's (mu held).
  void Refresh(Live& t) {
    if (t.broker_filter.empty()) return;
    auto f = filters.find(t.broker_filter);
    t.state = !connected ? connection_state : f != filters.end() ? f->second.state : "subscribing";
  }

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
  if (options_.broker && !mqtt_) {
    ::ew::flows::nodes::MqttBroker broker = *options_.broker;
    broker.mqtt5 = true;  // subscription identifiers: one connection serves every trigger
    // Retained values are old news, skipped anyway: a (re)subscribe must not replay a topic tree
    // through the thread every project's messages share.
    broker.send_retained = false;
    ::ew::flows::nodes::MqttCallbacks callbacks;
    callbacks.on_state = [this](bool connected, const std::string& detail) { OnConnectionState(connected, detail); };
    callbacks.on_subscribed = [this](uint32_t id, bool granted, const std::string& detail) {
      OnSubscribed(id, granted, detail);
    };
    callbacks.on_message = [this](const ::ew::flows::nodes::MqttMessage& m) { OnBrokerMessage(m); };
    callbacks.on_connack = [max = options_.max_payload_bytes, warned = std::make_shared<std::atomic<bool>>(false)](
                               uint32_t limit, bool subscription_ids) {
      if (warned->exchange(true)) return;  // once, not at every reconnect
      if (!subscription_ids)
        Log()->error("MQTT broker: it does not tag messages with subscription identifiers (MQTT 5); triggers whose "
                     "filters overlap fire once per matching subscription. Use a broker that does (mosquitto 2)");
      // libmosquitto 2.0 reads a packet whole before anyone sees its size, and cannot send an MQTT 5
      // maximum packet size with an asynchronous connect: the broker's own limit bounds what a
      // message costs the conductor.
      if (limit == 0 || limit > max + (64u << 10))
        Log()->warn("MQTT broker: it accepts messages up to {}; the conductor reads each whole before dropping one "
                    "over [triggers] max_payload_bytes ({} bytes). Set max_packet_size in the broker's config near "
                    "that (docs/SECURITY.md, Triggers)",
                    limit == 0 ? std::string("its protocol's maximum (256 MiB), announcing no limit")
                               : std::to_string(limit) + " bytes",
                    max);
    };
    EW_TRY(mqtt_, ::ew::flows::nodes::MqttConnection::Open(broker, {}, std::move(callbacks)));
    if (options_.mqtt_topic_root.empty())
      Log()->warn("MQTT triggers: [triggers] mqtt_topic_root is \"\": every project's filters are used as given, "
                  "and a trigger on # sees every project's messages");
    else
      Log()->info("MQTT triggers: each project's filters under {}/<project>/", options_.mqtt_topic_root);
  }
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
  std::unique_ptr<::ew::flows::nodes::MqttConnection> closing;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    closing = std::move(mqtt_);
  }
  closing.reset();  // joins the connection's thread, outside the lock its callbacks take
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
  EW_TRY(live.broker_filter, BrokerFilter(spec.project_id, spec.topic));
  std::lock_guard<std::mutex> lock(book_->mu);
  if (!mqtt_) return Unavailable("MQTT triggers: the trigger service is not started");
  auto& filter = book_->filters[live.broker_filter];
  filter.triggers.insert(spec.id);
  if (filter.subscription == 0 || spec.qos > filter.qos) {
    // New, or a higher qos: (re)subscribed; the same filter keeps its subscription id.
    filter.qos = std::max(filter.qos, spec.qos);
    filter.subscription = mqtt_->Subscribe(live.broker_filter, filter.qos);
    book_->filter_of[filter.subscription] = live.broker_filter;
  }
  book_->Refresh(live);
  // Made while the broker is unreachable: say why it does not fire yet, as those made before.
  if (!book_->connected && book_->connection_state != "connecting")
    book_->Failed(live, "broker: " + book_->connection_state + " (reconnecting with backoff)");
  book_->live.insert_or_assign(spec.id, std::move(live));
  return Ok();
}

Result<std::string> TriggerService::BrokerFilter(const std::string& project_id, const std::string& topic) const {
  if (options_.mqtt_topic_root.empty()) return topic;
  // Project ids are the conductor's ("prj-…"): a level of their own, never a wildcard.
  if (project_id.empty() || project_id.find_first_of("/+#") != std::string::npos || project_id[0] == '$')
    return InvalidArgument("project id \"" + project_id + "\" cannot name an MQTT topic level");
  std::string filter = options_.mqtt_topic_root + "/" + project_id + "/" + topic;
  EW_TRY(const auto* lib, ::ew::flows::nodes::MosquittoLibrary::Get());
  if (lib->sub_topic_check(filter.c_str()) != MOSQ_ERR_SUCCESS)
    return InvalidArgument("topic: \"" + filter + "\" is not a valid MQTT filter");
  return filter;
}

void TriggerService::Deactivate(const std::string& id) {
  std::lock_guard<std::mutex> lock(book_->mu);
  auto it = book_->live.find(id);
  if (it == book_->live.end()) return;
  if (auto f = book_->filters.find(it->second.broker_filter); f != book_->filters.end()) {
    f->second.triggers.erase(id);
    if (f->second.triggers.empty()) {
      if (mqtt_) mqtt_->Unsubscribe(f->second.subscription);
      book_->filter_of.erase(f->second.subscription);
      book_->filters.erase(f);
    }
  }
  book_->live.erase(it);
  book_->schedules.Remove(id);
}

void TriggerService::OnConnectionState(bool connected, const std::string& detail) {
  std::lock_guard<std::mutex> lock(book_->mu);
  book_->connected = connected;
  book_->connection_state = connected ? "connected" : detail;
  size_t mqtt_triggers = 0;
  for (auto& [id, t] : book_->live) {
    if (t.broker_filter.empty()) continue;
    ++mqtt_triggers;
    book_->Refresh(t);
    if (!connected) book_->Failed(t, "broker: " + detail + " (reconnecting with backoff)");
  }
  Log()->info("MQTT broker {} ({} trigger(s))", connected ? "connected" : detail, mqtt_triggers);
}

void TriggerService::OnSubscribed(uint32_t subscription, bool granted, const std::string& detail) {
  std::lock_guard<std::mutex> lock(book_->mu);
  auto name = book_->filter_of.find(subscription);
  if (name == book_->filter_of.end()) return;  // unsubscribed meanwhile
  auto& filter = book_->filters.at(name->second);
  filter.state = granted ? "connected" : detail;
  for (const auto& id : filter.triggers) {
    auto it = book_->live.find(id);
    if (it == book_->live.end()) continue;
    book_->Refresh(it->second);
    if (!granted) book_->Failed(it->second, "subscription " + name->second + ": " + detail);
  }
  if (!granted) Log()->warn("MQTT subscription {} {}", name->second, detail);
}

void TriggerService::OnBrokerMessage(const ::ew::flows::nodes::MqttMessage& m) {
  std::vector<std::string> targets;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    // Each project's budget is charged once per copy, whatever number of its triggers take it
    // (one project per filter under the namespaces; several with mqtt_topic_root = "").
    std::map<std::string, bool> within_budget;
    std::string over_budget, over_size;  // each error's text, made once per copy
    for (uint32_t subscription : m.subscription_ids) {
      auto name = book_->filter_of.find(subscription);
      if (name == book_->filter_of.end()) continue;
      for (const auto& id : book_->filters.at(name->second).triggers) {
        auto it = book_->live.find(id);
        if (it == book_->live.end()) continue;
        Live& t = it->second;
        // A retained message is the broker's stored last value (the subscription asks for none;
        // a broker may still send one): not a new event, and firing on it would repeat a fire at
        // each reconnect and conductor restart.
        if (m.retain) {
          ++t.skipped;
          continue;
        }
        auto budget = within_budget.find(t.spec.project_id);
        if (budget == within_budget.end())
          budget = within_budget
                       .emplace(t.spec.project_id,
                                book_->Spend(t.spec.project_id, options_.max_messages_per_second_per_project))
                       .first;
        if (!budget->second) {
          ++t.dropped;
          if (over_budget.empty())
            over_budget = "over the project's " +
                          std::to_string(static_cast<int64_t>(options_.max_messages_per_second_per_project)) +
                          " messages per second ([triggers] max_messages_per_second): dropped";
          book_->Failed(t, over_budget);
        } else if (m.payload.size() > options_.max_payload_bytes) {
          ++t.dropped;
          if (over_size.empty()) over_size = OverPayloadLimit(m.payload.size(), options_.max_payload_bytes);
          book_->Failed(t, over_size);
        } else if (t.in_flight >= options_.max_in_flight_per_trigger) {
          // Known now: dropped without the copy and parse (Queue would drop it too).
          ++t.dropped;
          book_->Failed(t, InFlightFull(t.in_flight));
        } else {
          targets.push_back(id);
        }
      }
    }
  }
  if (targets.empty()) return;  // nothing copied for a message no trigger takes
  const nlohmann::json event = EventOf(std::string(m.payload), options_.max_payload_bytes);
  for (const auto& id : targets) Deliver(id, event);
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
  TriggerStatus status;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    status = StatusOf(std::move(stored), book_->live, book_->schedules);
  }
  NameBrokerTopic(status);
  return status;
}

Result<std::vector<TriggerStatus>> TriggerService::List(const std::string& project_id) {
  EW_TRY(auto stored, store_.List(project_id));
  std::vector<TriggerStatus> out;
  out.reserve(stored.size());
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    for (auto& s : stored) out.push_back(StatusOf(std::move(s), book_->live, book_->schedules));
  }
  for (auto& status : out) NameBrokerTopic(status);
  return out;
}

void TriggerService::NameBrokerTopic(TriggerStatus& status) const {
  if (status.spec.kind != TriggerKind::kMqtt) return;
  if (auto filter = BrokerFilter(status.spec.project_id, status.spec.topic)) status.broker_topic = std::move(*filter);
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
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    auto it = book_->live.find(id);
    if (it == book_->live.end()) return;
    if (payload.size() > options_.max_payload_bytes) {
      ++it->second.dropped;
      book_->Failed(it->second, OverPayloadLimit(payload.size(), options_.max_payload_bytes));
      return;
    }
  }
  Deliver(id, EventOf(payload, options_.max_payload_bytes));
}

void TriggerService::Deliver(const std::string& id, const nlohmann::json& event) {
  std::optional<ThresholdCondition> condition;
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    auto it = book_->live.find(id);
    if (it == book_->live.end()) return;
    condition = it->second.spec.condition;
  }
  if (condition && !condition->Matches(event)) {
    std::lock_guard<std::mutex> lock(book_->mu);
    if (auto it = book_->live.find(id); it != book_->live.end()) ++it->second.skipped;
    return;
  }
  Queue(id, event);
}

void TriggerService::Queue(const std::string& id, nlohmann::json event) {
  {
    std::lock_guard<std::mutex> lock(book_->mu);
    auto it = book_->live.find(id);
    if (it == book_->live.end()) return;
    Live& t = it->second;
    if (t.in_flight >= options_.max_in_flight_per_trigger) {
      ++t.dropped;
      book_->Failed(t, InFlightFull(t.in_flight));
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
