// GpioBroker: a function's only way to GPIO. For one invocation (or one warm instance) it holds
// the lines the function declares, as consumer "fn:<function>:<invocation>", and serves them on
// a unix socket that the container gets bind-mounted (docs/GPIO.md → Functions). Anything the
// manifest does not allow is refused with permission_denied and logged.
//
// Threading: one thread per broker runs a poll loop over the listening socket, its clients and
// an eventfd that chips' edge handlers and Close() wake. A function that declares no lines gets
// no broker at all (FunctionHost does not open one), so no thread.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/error/error.hpp"
#include "common/gpio/chip_set.hpp"
#include "containers/package/function_spec.hpp"

namespace ew::containers {

class GpioBroker {
 public:
  // The socket's file name in the broker's private directory (and in the container).
  static constexpr const char* kSocketName = "gpio.sock";
  // Clients served at once; one more is told resource_exhausted and closed.
  static constexpr size_t kMaxClients = 16;
  // Longest request line; a longer one is answered invalid_argument and its client closed.
  // An empty (or blank) line is answered invalid_argument; the connection goes on.
  static constexpr size_t kMaxRequestBytes = 4096;

  // "fn:<function>:<invocation>", the consumer the lines are held as.
  static std::string Consumer(const std::string& function, const std::string& invocation);

  // Requests every line of `lines` on its chip for Consumer(function, invocation): outputs as
  // outputs at 0, inputs as inputs reporting both edges (for "wait"). Then makes a private
  // directory (0711) under `socket_root` (created 0711 if missing) with the socket (0666, so a
  // container's non-root uid can connect) and starts serving. On any failure nothing stays
  // held or created: the chip's Conflict ("line GPIO17 is busy: held by fn:blink:inv-3") for a
  // busy line, NotFound for an unknown one, InvalidArgument for no lines or one line declared
  // twice with different directions, Internal/Unavailable for socket or thread errors.
  // Only connections whose peer (SO_PEERCRED) runs as `peer_uid`, the host uid of the
  // invocation's container, are served; any other is answered permission_denied, logged and
  // closed (the socket is 0666 and its path guessable by other functions of the host).
  // `chips` must outlive the broker.
  static Result<std::unique_ptr<GpioBroker>> Open(const gpio::ChipSet& chips, const std::vector<GpioLineSpec>& lines,
                                                  const std::string& function, const std::string& invocation,
                                                  const std::filesystem::path& socket_root, uid_t peer_uid);

  ~GpioBroker();  // Close()
  // Stops serving (joins the thread, closes every connection; a pending wait gets no answer),
  // releases every line of the consumer and removes the socket directory. Idempotent.
  void Close();

  const std::string& consumer() const;
  // The private directory holding the socket: what a container gets at /run/edgewire.
  const std::filesystem::path& socket_dir() const;
  std::filesystem::path socket_path() const { return socket_dir() / kSocketName; }

  // Clients with a "wait" not yet answered. Thread-safe; for tests and metrics.
  size_t PendingWaits() const;

  struct Impl;

 private:
  explicit GpioBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ew::containers
