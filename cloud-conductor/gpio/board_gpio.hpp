// The conductor's side of boards' GPIO (docs/GPIO.md): calls to ew.board.<id>.gpio.*, watches
// that fan the boards' gpio.event publications out to listeners (REST's Server-Sent Events),
// and the readings history: every edge a board publishes and every value read or written here
// goes to the ReadingRecorder.
//
// Threading: the gateway's hooks and call answers run on the router's strand; everything here
// is thread-safe and never blocks there (the store is reached only through the recorder's
// queue, or by History() on the blocking pool).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloud-conductor/gpio/gpio_store.hpp"
#include "cloud-conductor/gpio/reading_recorder.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "common/clock/clock.hpp"
#include "common/contract/gpio.hpp"
#include "common/metrics/metrics.hpp"

namespace ew::conductor::gpio {

struct BoardGpioOptions {
  // gpio.lines/read/write/watch: the agent answers them from memory, so a board that takes
  // longer is in trouble; the REST caller should not wait the general call timeout.
  std::chrono::milliseconds call_timeout{10'000};
  // gpio.unwatch is fire and forget; this only bounds how long shutdown waits for the answers.
  std::chrono::milliseconds unwatch_timeout{5'000};
};

// What a watch asks the board for: the contract's gpio.watch request.
using WatchRequest = contract::gpio::WatchRequest;

// Where a watch's events go. Both run on the router's strand and must not block.
struct WatchListener {
  // One gpio.event publication of the watched line, of an edge the watch asked for: the
  // board's kwargs {chip, line, offset, edge, value, timestampNs, seq}.
  std::function<void(const nlohmann::json& event)> on_event;
  // Once, when the watch ends without Close(): the board's session ended ("board brd-… went
  // offline") or the conductor is stopping. No event follows.
  std::function<void(const std::string& reason)> on_end;
};

class BoardGpio {
 public:
  class Watch;
  using Answer = std::function<void(Result<nlohmann::json>)>;

  // Everything outlives the BoardGpio.
  BoardGpio(router::BoardGateway& gateway, ReadingRecorder& recorder, GpioStore& store, const Clock& clock,
            metrics::Registry& metrics, BoardGpioOptions options = {});
  ~BoardGpio();
  BoardGpio(const BoardGpio&) = delete;
  BoardGpio& operator=(const BoardGpio&) = delete;

  // Installs the gateway hooks (publications, session ends). Call once, before boards connect.
  void Start();
  // Ends every watch: listeners get on_end("the conductor is stopping") and the boards are
  // asked to unwatch. `done` runs once, from any thread, when every unwatch was answered (at
  // once when there is none). Watches asked for afterwards fail with Unavailable.
  void Shutdown(std::function<void()> done);

  // The board's gpio.lines answer ({chips: [...]}). `done` runs once, on the router's strand (or
  // the caller's thread when the gateway answers at once): Unavailable when the board is
  // offline, NotFound when it has no GPIO procedures, or the board's error.
  void Lines(const std::string& board_id, Answer done);
  // {chip, line, offset, value}; the value is recorded as a "read". Errors as Lines, and the
  // board's NotFound for an unknown line.
  void Read(const std::string& board_id, const std::string& line, Answer done);
  // {chip, line, offset, value} after writing `value` (0 or 1); recorded as a "write". The
  // board's Conflict when another owner holds the line.
  void Write(const std::string& board_id, const std::string& line, int value, Answer done);
  // Starts a watch (gpio.watch) and routes its events to `listener` until the watch is closed
  // or ends. `done` gets the watch, or Unavailable (board offline or reconnected meanwhile,
  // conductor stopping), or the board's error (Conflict: the line is busy or watched with
  // other settings; NotFound: no such line; InvalidArgument).
  void StartWatch(const std::string& board_id, const WatchRequest& request, WatchListener listener,
                  std::function<void(Result<std::shared_ptr<Watch>>)> done);

  // The stored readings; blocking (the blocking pool). Errors as GpioStore::Query.
  Result<ReadingPage> History(const ReadingQuery& query);

  size_t WatchCount() const;

 private:
  struct Shared;
  void OnPublication(const std::string& board_id, const std::string& suffix, const wamp::Payload& payload);
  void OnSessionEnded(const std::string& board_id, uint64_t session_id);
  void Call(const std::string& board_id, const std::string& procedure, wamp::Payload request,
            std::function<void(Result<wamp::Payload>)> done);
  void Record(const std::string& board_id, const contract::gpio::LineValue& answer, ReadingKind kind);

  router::BoardGateway& gateway_;
  ReadingRecorder& recorder_;
  GpioStore& store_;
  const Clock& clock_;
  BoardGpioOptions options_;
  std::shared_ptr<Shared> shared_;
  metrics::Counter& events_total_;
  metrics::Counter& invalid_events_total_;
  metrics::Gauge& watches_gauge_;
};

// One watch of one line of one board, as the board answered it. Handed out by StartWatch;
// also held by the BoardGpio until it ends.
class BoardGpio::Watch {
 public:
  // The board's gpio.watch answer: {watch, chip, line, offset, value}.
  const nlohmann::json& info() const { return info_; }
  const std::string& board_id() const { return board_id_; }
  // Stops the events and asks the board to unwatch (gpio.unwatch, unless its session already
  // ended). on_end is not called. Thread-safe; later calls do nothing.
  void Close();

 private:
  friend class BoardGpio;
  std::weak_ptr<Shared> shared_;
  std::string board_id_;
  uint64_t session_id_ = 0;
  nlohmann::json info_;
  std::string chip_;
  int64_t offset_ = 0;
  std::string edge_;  // rising | falling | both
  WatchListener listener_;
  std::atomic<bool> ended_{false};
};

}  // namespace ew::conductor::gpio
