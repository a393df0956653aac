// The board's GPIO procedures ew.board.<id>.gpio.{lines,read,write,watch,unwatch}, the
// ew.board.<id>.gpio.event publications, and edge triggers of deployed functions, over the
// board's ChipSet. The contract is docs/GPIO.md.
//
// Threading: procedures, watches and triggers live on the agent's io thread. Chips report edges
// on their own threads; those are posted here, so an edge handler never blocks a chip.
//
// With a spool (SetSpool), every edge publication goes through the spool stream "gpio.event"
// and leaves it only once the conductor acknowledged it (spool::AckedStream over
// ew.conductor.publish): edges sent into a link that died silently are sent again, in order, on
// the next session, and the conductor takes each once. A session that ends keeps the watches
// until the next one is up, so that edges seen meanwhile are spooled too; then the old watches
// are released (their callers were on the other side of the old session). Without a spool edges
// are published without acknowledgement, and watches are released with the session.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "common/gpio/chip_set.hpp"
#include "common/gpio/trigger_spec.hpp"
#include "device-agent/rpc/conductor_client.hpp"
#include "device-agent/rpc/procedure.hpp"
#include "device-agent/rpc/sys_info.hpp"
#include "device-agent/session/session_observer.hpp"
#include "device-agent/spool/acked_stream.hpp"
#include "device-agent/spool/async_spool.hpp"

namespace ew::agent::gpio {

// Consumers (owners) the service holds lines as; functions are "fn:<function>:<invocation>".
inline constexpr const char* kWatchConsumer = "watch";
inline constexpr const char* kApiConsumer = "api";  // only for the instant of a write
inline constexpr const char* kEventStream = "gpio.event";  // spool stream of edges kept offline
std::string TriggerConsumer(const std::string& function_id);  // "trigger:<function>"

using ew::gpio::TriggerSpec;

class GpioService : public session::SessionObserver {
 public:
  // `chips` and `conductor` outlive the service; `conductor` may be set later (SetConductor).
  GpioService(boost::asio::io_context& io, std::string board_id, const ew::gpio::ChipSet& chips);
  ~GpioService() override;

  void SetConductor(rpc::ConductorClient* conductor) {
    conductor_ = conductor;
    if (events_) events_->SetConductor(conductor);
  }
  // Where edges wait while there is no session; null = they are dropped (counted). Must
  // outlive the service. `limits` bound the stream "gpio.event". Io thread, before the session.
  void SetSpool(spool::AsyncSpool* spool,
                spool::StreamLimits limits = {16ull << 20, 100'000, spool::DropPolicy::kDropOldest});

  // gpio.lines, .read, .write, .watch (discloses its caller), .unwatch.
  rpc::ProcedureTable Procedures();
  // wamp.session.on_leave: a caller's session ended → its watches go.
  rpc::Subscription SessionLeaveSubscription();

  // The board's session ended: every watch is released (whoever set them up is on the other
  // side of that session). Io thread.
  void OnDisconnected(const std::string& reason, std::chrono::milliseconds retry_in) override;
  // A session is up: the edges spooled meanwhile go out, then the watches of the old session go.
  void OnReady(const std::string& url, uint64_t session_id) override;

  // For sys.info.
  std::vector<rpc::GpioChipSummary> Summary() const;

  // Replaces the triggers of `function_id` with `triggers`: the lines are held as
  // TriggerConsumer(function_id) and `fire(event)` runs on the io thread for each edge. All or
  // nothing: a busy or unknown line fails the call and leaves the old triggers in place.
  using Fire = std::function<void(nlohmann::json event)>;
  Result<void> SetTriggers(const std::string& function_id, const std::vector<TriggerSpec>& triggers, Fire fire);
  // Io thread.
  void ClearTriggers(const std::string& function_id);

  // Counts, for tests and metrics.
  size_t WatchCount() const { return watches_.size(); }
  // Published: without a spool, sent; with one, routed by the conductor (acknowledged).
  uint64_t PublishedEdges() const { return published_ + (events_ ? events_->routed() : 0); }
  uint64_t DroppedEdges() const { return dropped_; }
  uint64_t SpooledEdges() const { return spooled_; }
  const spool::AckedStream* EventStream() const { return events_.get(); }

 private:
  struct Watch {
    std::string id;
    std::string line_key;
    ew::gpio::Edges edge = ew::gpio::Edges::kBoth;
    uint64_t caller = 0;  // WAMP session of whoever asked; 0 = unknown (the conductor itself)
  };
  struct WatchedLine {
    ew::gpio::LineRef ref;
    ew::gpio::Bias bias = ew::gpio::Bias::kAsIs;
    std::chrono::milliseconds debounce{0};
    uint64_t seq = 0;  // publications of this line so far
    std::map<std::string, Watch*> watches;
  };
  struct Trigger {
    ew::gpio::LineRef ref;
    TriggerSpec spec;
  };

  Result<rpc::Reply> Lines() const;
  Result<rpc::Reply> Read(const rpc::Request& invocation) const;
  Result<rpc::Reply> Write(const rpc::Request& invocation);
  Result<rpc::Reply> WatchLine(const rpc::Request& invocation);
  Result<rpc::Reply> Unwatch(const rpc::Request& invocation);
  void RemoveWatch(const std::string& id);
  void OnEdge(const std::string& line_key, const ew::gpio::EdgeEvent& edge);
  void ReleaseSessionState();
  // Stores an edge publication in the spool; it goes out from there once acknowledged.
  void SpoolEdge(const rpc::Reply& event);
  // Posts a chip's edge onto the io thread, if this service still exists then.
  ew::gpio::EdgeHandler PostEdge(std::function<void(const ew::gpio::EdgeEvent&)> on_io);

  boost::asio::io_context& io_;
  std::string board_id_;
  std::string event_topic_;
  const ew::gpio::ChipSet& chips_;
  rpc::ConductorClient* conductor_ = nullptr;

  std::map<std::string, std::unique_ptr<Watch>> watches_;  // by watch id
  std::map<std::string, WatchedLine> watched_lines_;       // by "chip:offset"
  std::map<std::string, std::vector<Trigger>> triggers_;   // by function id
  uint64_t next_watch_ = 1;
  uint64_t published_ = 0;
  uint64_t dropped_ = 0;  // edges that found no session to publish on (and no spool), or no room
  uint64_t spooled_ = 0;  // edges stored in the spool

  spool::AsyncSpool* spool_ = nullptr;
  std::unique_ptr<spool::AckedStream> events_;  // with a spool: "gpio.event", acknowledged
  std::vector<std::string> stale_watches_;  // of an ended session, kept to spool their edges

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::agent::gpio
