// The flow runtime's Host on a board (flows/runtime/host.hpp): GPIO through the board's ChipSet
// (lines held as "flow:<flow>/<node>"), edgewire-function through ew.conductor.fn.invoke, cross
// wires through a WireOutbox (sequence numbers, spool), debug and status output on
// ew.flow.<flow>.debug / .status while a session is up (dropped, and counted, otherwise: they are
// live views, not data). One per running partition. Io thread only; chip edges are posted to it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "flows/runtime/rate_window.hpp"
#include "common/clock/clock.hpp"
#include "common/gpio/chip_set.hpp"
#include "device-agent/flows/wire_outbox.hpp"
#include "device-agent/rpc/conductor_client.hpp"
#include "flows/runtime/host.hpp"

namespace ew::agent::flows {

struct AgentFlowHostOptions {
  std::string flow;
  std::string board;
  // Debug messages published per second at most; more are dropped (a debug node on a fast
  // stream must not fill the board's uplink).
  int debug_per_second = 100;
  // Extra time the WAMP call to ew.conductor.fn.invoke gets beyond the function's own timeout.
  std::chrono::milliseconds invoke_grace{5000};
};

class AgentFlowHost : public ew::flows::runtime::Host {
 public:
  // `chips`, `clock` and `outbox` outlive the host; `conductor` may be null (no session yet:
  // function calls fail Unavailable).
  AgentFlowHost(boost::asio::io_context& io, AgentFlowHostOptions options, const ew::gpio::ChipSet& chips,
                const Clock& clock, WireOutbox& outbox, rpc::ConductorClient* conductor);
  ~AgentFlowHost() override;

  void SetOnline(bool online) { online_ = online; }
  // The session is going (agent shutdown): nothing more is published or called through it;
  // wire messages still go to the spool.
  void Detach() {
    online_ = false;
    conductor_ = nullptr;
  }

  Result<void> WatchGpio(const std::string& owner, const ew::flows::runtime::GpioWatchSpec& spec,
                         std::function<void(ew::flows::runtime::GpioEdge)> on_edge) override;
  Result<int> ReadGpio(const std::string& line) override;
  Result<void> WriteGpio(const std::string& owner, const std::string& line, int level) override;
  void ReleaseGpio(const std::string& owner) override;
  void InvokeFunction(const ew::flows::runtime::FunctionCall& call,
                      std::function<void(Result<nlohmann::json>)> done) override;
  void PublishWire(const std::string& topic, nlohmann::json msg) override;
  void Debug(const ew::flows::runtime::DebugEvent& event) override;
  void Status(const std::string& node, const nlohmann::json& status) override;
  void Log(const std::string& level, const std::string& node, const std::string& text) override;

  uint64_t debug_dropped() const { return debug_dropped_; }

 private:
  struct Held {
    ew::gpio::LineRef ref;
    bool output = false;
    std::shared_ptr<bool> alive;  // edges posted after release are dropped
  };
  static std::string Consumer(const std::string& owner) { return "flow:" + owner; }

  boost::asio::io_context& io_;
  AgentFlowHostOptions options_;
  const ew::gpio::ChipSet& chips_;
  const Clock& clock_;
  WireOutbox& outbox_;
  rpc::ConductorClient* conductor_;
  bool online_ = false;
  std::multimap<std::string, Held> held_;  // by owner
  ew::flows::runtime::RateWindow debug_rate_;
  uint64_t debug_dropped_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::agent::flows
