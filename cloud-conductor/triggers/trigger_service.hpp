// Runs the triggers of every project: one MQTT 5 connection for every MQTT trigger (libmosquitto
// through flows' MqttConnection, to the conductor's one configured broker; one subscription per
// distinct filter, its identifier naming the triggers a message is for; each project's filters
// under its own topic namespace; no retained messages at subscribe), the schedule triggers on a
// timer over the injected Clock (ScheduleBook), and each fire as an invocation through the
// function invoker (placement, fallback, limits, history with the trigger's id). Restores every
// stored trigger at Start. docs/ARCHITECTURE.md, "Triggers".
//
// Threading: Create/Delete/Get/List and Start block on the store: call them from the blocking pool
// (or before the io loop runs). MQTT messages arrive on the connection's libmosquitto thread,
// ticks on the io executor; both only queue fires on the blocking pool, where `invoke` runs. Status
// lives under one mutex in a block shared with the invocations' completion callbacks, which may
// run after the service is gone. Lock order: that mutex, then the connection's (Subscribe under
// it); the connection calls back holding none of its own.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "cloud-conductor/triggers/schedule_book.hpp"
#include "cloud-conductor/triggers/trigger_spec.hpp"
#include "cloud-conductor/triggers/trigger_store.hpp"
#include "common/clock/clock.hpp"
#include "common/error/error.hpp"
#include "flows/nodes/mqtt_connection.hpp"

namespace ew::conductor::triggers {

struct TriggerOptions {
  // The broker MQTT triggers subscribe at (host, port, TLS files, credentials); nullopt = MQTT
  // triggers are off (creating one answers Unavailable). Users never choose the host: a trigger
  // cannot make the conductor connect elsewhere.
  std::optional<::ew::flows::nodes::MqttBroker> broker;
  // Each project's topic namespace: a trigger's filter `f` of project P is subscribed as
  // "<root>/<P>/f", so no project's trigger sees another's messages (one broker identity serves
  // them all). "" = filters as given: only for a broker every project may read all of.
  std::string mqtt_topic_root = "edgewire/projects";
  size_t max_per_project = 32;             // triggers of one project (MQTT and schedule); more → 429
  size_t max_payload_bytes = 64 << 10;     // an MQTT payload larger than this is dropped (never copied), not fired
  size_t max_in_flight_per_trigger = 8;    // fires queued or running per trigger; more are dropped
  // Messages one project's triggers take per second (a token bucket of as many), counted per copy
  // the broker delivers; more are dropped before they are copied or parsed. Every project's
  // messages share the connection's one thread: no project's devices can starve the others.
  double max_messages_per_second_per_project = 200;
  std::chrono::milliseconds tick{1'000};   // how often schedules are checked (fires are at most this late)
};

// One trigger as REST shows it: the spec and what it did.
struct TriggerStatus {
  TriggerSpec spec;
  std::string broker_topic;  // mqtt: the filter subscribed at the broker (the project's namespace + topic)
  // mqtt: "connecting", "subscribing", "connected", "disconnected: <why>", "refused (<code>)",
  // "TLS: <why>", "refused by the broker: <reason>" (its SUBACK, e.g. an ACL's "Not authorized");
  // schedule: "scheduled", or "finished" once it has no time left.
  std::string state;
  int64_t last_fired_at = 0;  // Unix seconds; 0 = never
  uint64_t fire_count = 0;    // invocations started (survives restarts)
  std::string last_error;     // "" = none since the conductor started
  int64_t last_error_at = 0;
  uint64_t skipped = 0;       // messages below the condition (or not JSON where it needs a field)
  uint64_t dropped = 0;       // messages over max_payload_bytes or beyond max_in_flight
  std::optional<int64_t> next_fire_at;  // schedule: Unix seconds
};

class TriggerService {
 public:
  // Called on the blocking pool for each fire: start an invocation of spec.function_id with
  // `event`, recorded with the trigger's id; `done` gets "" on success or the failure's text when
  // it ends. Returns NotFound when the function is gone (the trigger is then retired), any other
  // error when nothing was started.
  using Invoke = std::function<Result<void>(const TriggerSpec& spec, nlohmann::json event,
                                            std::function<void(std::string error)> done)>;

  // Everything passed by reference outlives the service; `blocking` is joined before it goes.
  TriggerService(TriggerStore& store, boost::asio::thread_pool& blocking, boost::asio::any_io_executor io,
                 const Clock& clock, Invoke invoke, TriggerOptions options);
  ~TriggerService();

  // Restores every stored trigger (connections, schedules from their last fire) and starts the
  // schedule timer. Blocking. A trigger that cannot start (its stored spec is damaged) is logged
  // and left out; Start fails only when the store does.
  Result<void> Start();
  // Closes the MQTT connection (joins its thread) and stops the timer. Idempotent.
  void Stop();

  // Stores and starts `spec` (id, project and created_at set by the caller, the function checked
  // by it). Unavailable for an MQTT trigger without a broker configured; InvalidArgument when its
  // filter under the project's namespace is not a valid filter; ResourceExhausted past
  // max_per_project; store errors. Nothing changes on error.
  Result<TriggerStatus> Create(TriggerSpec spec);
  // NotFound when there is no such trigger. Its filter is unsubscribed (when no other trigger has
  // it) before this returns.
  Result<void> Delete(const std::string& id);
  Result<TriggerStatus> Get(const std::string& id);
  // Every trigger of `project_id` ("" = every project), oldest first.
  Result<std::vector<TriggerStatus>> List(const std::string& project_id);
  // GPIO edge triggers of deployments, for the same listing.
  Result<std::vector<GpioTriggerRow>> ListGpio(const std::string& project_id) { return store_.ListGpio(project_id); }

  // Fires the schedule triggers due at clock.Now(). The timer calls it; tests with a ManualClock
  // call it directly. Any thread.
  void Tick();
  // A message for trigger `id` (the connection's callback calls it for each trigger a message is
  // for; tests call it directly). Any thread.
  void OnMessage(const std::string& id, const std::string& payload);
  // The filter `topic` of `project_id` is subscribed as (mqtt_topic_root applied); InvalidArgument
  // when the result is not a valid MQTT filter.
  Result<std::string> BrokerFilter(const std::string& project_id, const std::string& topic) const;

  struct Live;  // a running trigger: its spec, status and connection (trigger_service.cpp)

 private:
  struct Book;  // status of every live trigger under one mutex, shared with pending callbacks

  // Adds a stored trigger to the live set and starts it (subscription or schedule).
  Result<void> Activate(const StoredTrigger& stored);
  // Removes `id` from the live set, and its filter's subscription when no other trigger has it.
  void Deactivate(const std::string& id);
  // The shared connection's callbacks (libmosquitto's thread).
  void OnConnectionState(bool connected, const std::string& detail);
  void OnSubscribed(uint32_t subscription, bool granted, const std::string& detail);
  void OnBrokerMessage(const ::ew::flows::nodes::MqttMessage& message);
  // Fires `id` with `event` when its condition (if any) holds, else counts it skipped.
  void Deliver(const std::string& id, const nlohmann::json& event);
  // Queues one fire of `id` on the blocking pool unless it has too many in flight.
  void Queue(const std::string& id, nlohmann::json event);
  // On the pool: invokes, then counts the fire (at `at`, Unix seconds) in memory and in the store.
  void Fire(const std::string& id, nlohmann::json event, int64_t at);
  void ArmTimer();
  // Sets status.broker_topic for an MQTT trigger.
  void NameBrokerTopic(TriggerStatus& status) const;

  TriggerStore& store_;
  boost::asio::thread_pool& blocking_;
  boost::asio::steady_timer timer_;
  const Clock& clock_;
  Invoke invoke_;
  TriggerOptions options_;
  std::shared_ptr<Book> book_;
  // The one broker connection, opened by Start when a broker is configured; its destructor (in
  // Stop) joins its thread. Subscribe/Unsubscribe on it under book_->mu.
  std::unique_ptr<::ew::flows::nodes::MqttConnection> mqtt_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool stopped_ = false;
};

}  // namespace ew::conductor::triggers
