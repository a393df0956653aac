// Runs the triggers of every project: one MQTT connection per MQTT trigger (libmosquitto through
// flows' MqttConnection, to the conductor's one configured broker), the schedule triggers on a
// timer over the injected Clock (ScheduleBook), and each fire as an invocation through the
// function invoker (placement, fallback, limits, history with the trigger's id). Restores every
// stored trigger at Start. docs/ARCHITECTURE.md, "Triggers".
//
// Threading: Create/Delete/Get/List and Start block on the store: call them from the blocking pool
// (or before the io loop runs). MQTT messages arrive on each connection's libmosquitto thread,
// ticks on the io executor; both only queue fires on the blocking pool, where `invoke` runs. Status
// lives under one mutex in a block shared with the invocations' completion callbacks, which may
// run after the service is gone.
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
  size_t max_per_project = 32;             // triggers of one project (MQTT and schedule); more → 429
  size_t max_payload_bytes = 64 << 10;     // an MQTT payload larger than this is dropped, not fired
  size_t max_in_flight_per_trigger = 8;    // fires queued or running per trigger; more are dropped
  std::chrono::milliseconds tick{1'000};   // how often schedules are checked (fires are at most this late)
};

// One trigger as REST shows it: the spec and what it did.
struct TriggerStatus {
  TriggerSpec spec;
  // mqtt: "connecting", "connected", "disconnected: <why>", "refused (<code>)", "TLS: <why>";
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
  // Closes every MQTT connection (joins their threads) and stops the timer. Idempotent.
  void Stop();

  // Stores and starts `spec` (id, project and created_at set by the caller, the function checked
  // by it). Unavailable for an MQTT trigger without a broker configured; ResourceExhausted past
  // max_per_project; store errors. Nothing changes on error.
  Result<TriggerStatus> Create(TriggerSpec spec);
  // NotFound when there is no such trigger. Its connection is closed before this returns.
  Result<void> Delete(const std::string& id);
  Result<TriggerStatus> Get(const std::string& id);
  // Every trigger of `project_id` ("" = every project), oldest first.
  Result<std::vector<TriggerStatus>> List(const std::string& project_id);
  // GPIO edge triggers of deployments, for the same listing.
  Result<std::vector<GpioTriggerRow>> ListGpio(const std::string& project_id) { return store_.ListGpio(project_id); }

  // Fires the schedule triggers due at clock.Now(). The timer calls it; tests with a ManualClock
  // call it directly. Any thread.
  void Tick();
  // A message as the broker delivered it to `id`'s connection. Any thread (libmosquitto's).
  void OnMessage(const std::string& id, const std::string& payload);

  struct Live;  // a running trigger: its spec, status and connection (trigger_service.cpp)

 private:
  struct Book;  // status of every live trigger under one mutex, shared with pending callbacks

  // Adds a stored trigger to the live set and starts it (connection or schedule).
  Result<void> Activate(const StoredTrigger& stored);
  // Removes `id` from the live set; its connection is closed outside the lock.
  void Deactivate(const std::string& id);
  // Queues one fire of `id` on the blocking pool unless it has too many in flight.
  void Queue(const std::string& id, nlohmann::json event);
  // On the pool: invokes, then counts the fire (at `at`, Unix seconds) in memory and in the store.
  void Fire(const std::string& id, nlohmann::json event, int64_t at);
  void ArmTimer();

  TriggerStore& store_;
  boost::asio::thread_pool& blocking_;
  boost::asio::steady_timer timer_;
  const Clock& clock_;
  Invoke invoke_;
  TriggerOptions options_;
  std::shared_ptr<Book> book_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool stopped_ = false;
};

}  // namespace ew::conductor::triggers
