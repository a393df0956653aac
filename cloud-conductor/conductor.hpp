// The conductor process wired together: registry, authentication, WAMP router, REST API and
// the one network port. main.cpp only parses flags and signals; tests start a Conductor in-
// process or run the binary.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>

#include "common/config/config.hpp"
#include "common/error/error.hpp"

namespace ew::conductor {

class Conductor {
 public:
  // `announce` receives the one-time bootstrap admin password message (stdout in the daemon).
  Conductor(config::ConductorConfig config, std::ostream& announce);
  ~Conductor();

  // Opens the store (migrating it), creates the bootstrap admin on first start, binds the port.
  // Returns the bound port. Errors: Internal (store), Unavailable (port taken), InvalidArgument.
  Result<uint16_t> Start();
  // Serves on the calling thread until Stop() (or SIGTERM/SIGINT when handle_signals; SIGHUP
  // then re-reads the TLS certificate and key, keeping the current ones if the new fail). Tells
  // systemd WATCHDOG=1 at half its interval when a watchdog is set.
  void Run(bool handle_signals = false);
  // Thread-safe; Run() returns soon after.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ew::conductor
