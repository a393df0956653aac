// What a flow runtime needs from whoever hosts it (the board agent, the conductor's cloud runner,
// tests): GPIO lines, Edgewire function calls, the far ends of cross wires, and the sinks of
// debug and status output. The runtime never sees the agent or WAMP, only this port.
//
// Threading: every method is called on the runtime's strand. Callbacks handed to the host may be
// called from any thread; the runtime posts them back onto its strand itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"

namespace ew::flows::runtime {

// How an edgewire-gpio-in node wants its line (props line, pull, edge, debounce).
struct GpioWatchSpec {
  std::string line;                     // "17", "GPIO17", "gpiochip1:5"
  std::string pull = "none";            // "none" | "up" | "down"
  std::string edge = "both";            // "both" | "rising" | "falling"
  std::chrono::milliseconds debounce{0};
};

struct GpioEdge {
  int level = 0;                 // level after the edge
  bool rising = true;
  int64_t timestamp_ms = 0;      // wall clock, ms since the epoch
};

struct FunctionCall {
  std::string function;          // name or id
  std::string placement = "auto";
  nlohmann::json event;          // msg.payload
  std::chrono::milliseconds timeout{30'000};
};

// One debug node's output (the `ew.flow.<flow>.debug` topic's kwargs without board).
struct DebugEvent {
  std::string node;
  std::string name;
  nlohmann::json msg;        // the selected property, or the whole message
  std::string topic;         // msg.topic when it is a string
  std::string property;      // "payload", "msg" for the whole message, ...
};

class Host {
 public:
  virtual ~Host() = default;

  // Holds `spec.line` as an input for `owner` ("<flow>/<node>") and reports its edges through
  // `on_edge`. Errors: NotFound (no such line), Conflict (held by someone else), InvalidArgument.
  virtual Result<void> WatchGpio(const std::string& owner, const GpioWatchSpec& spec,
                                 std::function<void(GpioEdge)> on_edge) = 0;
  // Current level of `line` (0 or 1).
  virtual Result<int> ReadGpio(const std::string& line) = 0;
  // Holds `line` as an output for `owner` (first call) and drives it to `level`.
  virtual Result<void> WriteGpio(const std::string& owner, const std::string& line, int level) = 0;
  // Releases every line `owner` holds (node closed).
  virtual void ReleaseGpio(const std::string& owner) = 0;

  // Runs an Edgewire function; `done` gets its result or the error (exactly once).
  virtual void InvokeFunction(const FunctionCall& call, std::function<void(Result<nlohmann::json>)> done) = 0;

  // A message leaving the partition on cross wire `topic` (OutboundWire::topic). The host numbers,
  // spools and publishes it; the runtime has already given up its copy.
  virtual void PublishWire(const std::string& topic, nlohmann::json msg) = 0;

  virtual void Debug(const DebugEvent& event) = 0;
  // {"fill","shape","text"} of `node` ({} clears it).
  virtual void Status(const std::string& node, const nlohmann::json& status) = 0;
  // A warning or error a node logged (node.warn / node.error); the host logs it.
  virtual void Log(const std::string& level, const std::string& node, const std::string& text) {}
};

}  // namespace ew::flows::runtime
