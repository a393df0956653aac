// Is the conductor's port accepting connections? One TCP handshake (resolve, connect, close),
// with a deadline: the cheap check the agent repeats while the conductor is away, instead of a
// full WebSocket + WAMP attempt each time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "common/error/error.hpp"

namespace ew::agent::session {

class ReachabilityProbe {
 public:
  // `io` must outlive the probe.
  explicit ReachabilityProbe(boost::asio::io_context& io) : io_(io) {}
  ~ReachabilityProbe() { Cancel(); }
  ReachabilityProbe(const ReachabilityProbe&) = delete;
  ReachabilityProbe& operator=(const ReachabilityProbe&) = delete;

  // Connects to host:port and closes at once. `done` runs on the io thread exactly once:
  // Ok when the port accepted, Unavailable with the reason otherwise (refused, unresolvable,
  // no answer within `timeout`), unless Cancel() or the destructor came first (then never).
  // One probe at a time: a new Start cancels the previous one.
  void Start(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
             std::function<void(ew::Result<void>)> done);
  void Cancel();

 private:
  struct Run;
  boost::asio::io_context& io_;
  std::shared_ptr<Run> run_;
};

}  // namespace ew::agent::session
