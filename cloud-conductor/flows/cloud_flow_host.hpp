// The flow runtime's Host for a cloud partition that the conductor runs itself (flows/runtime/
// host.hpp): cross wires, debug and status go out through the router's PublishFlowEvent hook on
// the same ew.flow.<flow>.* topics boards use; edgewire-function calls go to the conductor's
// functions through an injected invoker; there are no GPIO lines in the cloud (a GPIO node is
// refused at deploy, and these calls fail InvalidArgument should one get here).
//
// Wire messages carry {seq, from, version} as a board's do. `from` is "cloud:<run>", where <run>
// is this conductor process's id: the conductor keeps no spool, so its numbering restarts at 1
// when it restarts, and a board still holding the old run's last seq would take the new run's
// first messages for duplicates. A new `from` is a new stream to WireOrder.
//
// Threading: the runtime's strand (the cloud runner's thread); the invoker's callback may run on
// any thread (the runtime posts it back).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "flows/runtime/rate_window.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "common/clock/clock.hpp"
#include "flows/runtime/host.hpp"

namespace ew::conductor::flows {

// Runs an edgewire-function call for `flow_id` (the conductor resolves the function in the
// flow's project); `done` runs exactly once, on any thread.
using FlowInvoker = std::function<void(const std::string& flow_id, const ew::flows::runtime::FunctionCall& call,
                                       std::function<void(Result<nlohmann::json>)> done)>;

struct CloudFlowHostOptions {
  std::string flow;
  uint64_t version = 0;
  std::string from = "cloud";  // the publisher name on wires ("cloud:<run>", see above)
  // Debug messages published per second at most, as on a board: a debug node on a fast stream
  // must not flood every subscriber of the flow's debug topic.
  int debug_per_second = 100;
};

class CloudFlowHost : public ew::flows::runtime::Host {
 public:
  // `gateway` and `clock` outlive the host; `invoker` may be empty (function calls fail Unavailable).
  CloudFlowHost(CloudFlowHostOptions options, router::BoardGateway& gateway, const Clock& clock, FlowInvoker invoker);

  Result<void> WatchGpio(const std::string& owner, const ew::flows::runtime::GpioWatchSpec& spec,
                         std::function<void(ew::flows::runtime::GpioEdge)> on_edge) override;
  Result<int> ReadGpio(const std::string& line) override;
  Result<void> WriteGpio(const std::string& owner, const std::string& line, int level) override;
  void ReleaseGpio(const std::string& owner) override {}
  void InvokeFunction(const ew::flows::runtime::FunctionCall& call,
                      std::function<void(Result<nlohmann::json>)> done) override;
  void PublishWire(const std::string& topic, nlohmann::json msg) override;
  void Debug(const ew::flows::runtime::DebugEvent& event) override;
  void Status(const std::string& node, const nlohmann::json& status) override;
  void Log(const std::string& level, const std::string& node, const std::string& text) override;

  uint64_t published() const { return published_; }
  uint64_t debug_dropped() const { return debug_dropped_; }

 private:
  CloudFlowHostOptions options_;
  router::BoardGateway& gateway_;
  const Clock& clock_;
  FlowInvoker invoker_;
  std::map<std::string, uint64_t> seq_;  // last seq sent, per wire topic
  uint64_t published_ = 0;
  ew::flows::runtime::RateWindow debug_rate_;
  uint64_t debug_dropped_ = 0;
};

}  // namespace ew::conductor::flows
