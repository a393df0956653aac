// The simulation control socket of a SimChip: a unix socket (0600) through which tests, the
// benchmark and the demo play the outside world into a running agent. One JSON object per line
// each way, one answer per request, in order:
//
//   {"op":"drive","line":"GPIO4","value":1}       → {"value":1}   drives an input (level after)
//   {"op":"disconnect","line":"GPIO4"}            → {"value":0}   leaves it to its bias
//   {"op":"read","line":"GPIO17"}                 → {"value":1}   the level, outputs included
//   {"op":"lines"}                                → {"chip":"sim0","lines":[{offset,name,used,…}]}
//   {"op":"square","line":"GPIO4","periodUs":1000,"cycles":10000,"paced":true}  → {"started":true}
//   {"op":"series","line":"GPIO4","samples":[[delayUs,value],...],"paced":true} → {"started":true}
//   {"op":"wait-square"}                          → {"edges":N,"maxLateUs":L,"cancelled":false}
//   {"op":"stop-square"}                          → {"stopped":true|false}
//   any error                                     → {"error":{"code","message"}}
//
// square and series play on a generator thread in real time: paced, each level is driven at its
// due time on the steady clock (a square wave starts high, the level flips every periodUs/2; a
// series sample comes delayUs after the previous one); unpaced, as fast as possible. Every edge
// is stamped with the steady clock (CLOCK_MONOTONIC, as the kernel stamps GPIO edges) when it is
// driven. One signal plays at a time; wait-square answers when it has finished (at once with the
// last result when none plays). Edge handlers of the chip run on the thread that drives.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "common/gpio/sim_chip.hpp"

namespace ew::agent::gpio {

class SimControl {
 public:
  // Binds `socket_path` with mode 0600 (creating missing parent directories) and serves it on its
  // own thread. A stale socket file there is replaced; Conflict when another process still serves
  // it, InvalidArgument when the path is another kind of file, Unavailable when it cannot bind.
  // `chip` outlives the SimControl.
  static Result<std::unique_ptr<SimControl>> Start(ew::gpio::SimChip& chip, const std::string& socket_path);
  ~SimControl();  // Stop()
  SimControl(const SimControl&) = delete;
  SimControl& operator=(const SimControl&) = delete;

  // Cancels a playing signal, closes the connections and removes the socket file. Idempotent.
  void Stop();
  const std::string& SocketPath() const { return socket_path_; }
  ew::gpio::SimChip& Chip() const { return chip_; }

 private:
  class Connection;
  struct Signal;
  struct Played {
    uint64_t edges = 0;                     // levels driven
    std::chrono::microseconds max_late{0};  // paced: the worst lateness of a level against its due time
    bool cancelled = false;
    std::optional<Error> error;
  };

  SimControl(ew::gpio::SimChip& chip, std::string socket_path);

  void Accept();
  // Answers one request line on the io thread; nullopt when the answer comes later (wait-square).
  std::optional<nlohmann::json> Handle(const std::shared_ptr<Connection>& from, const std::string& line);
  Result<nlohmann::json> Dispatch(const std::shared_ptr<Connection>& from, const nlohmann::json& request,
                                  bool& answer_later);
  Result<nlohmann::json> StartSignal(Signal signal);
  void Play(const Signal& signal);  // the generator thread
  void Finished(Played played);     // on the io thread
  bool StopSignal();                // true when one was playing

  ew::gpio::SimChip& chip_;
  const std::string socket_path_;
  dev_t socket_dev_ = 0;  // the socket file we bound, so Stop removes only ours
  ino_t socket_ino_ = 0;

  boost::asio::io_context io_;
  boost::asio::local::stream_protocol::acceptor acceptor_{io_};
  std::thread io_thread_;
  std::once_flag stopped_;

  // Io thread only:
  bool playing_ = false;
  std::optional<Played> last_played_;
  std::vector<std::shared_ptr<Connection>> waiting_;    // wait-square callers
  std::vector<std::weak_ptr<Connection>> connections_;  // closed by Stop()
  std::thread generator_;

  // The generator's stop request, also from Stop().
  std::mutex cancel_mu_;
  std::condition_variable cancel_cv_;
  bool cancel_ = false;  // GUARDED_BY(cancel_mu_)
};

// Sends one request to a control socket and returns its answer (which may be an {"error":…}
// object). Unavailable when nothing serves `socket_path`, DeadlineExceeded when no answer comes
// within `timeout` (0 = wait as long as it takes, for wait-square).
Result<nlohmann::json> SimControlCall(const std::string& socket_path, const nlohmann::json& request,
                                      std::chrono::milliseconds timeout);

// `edgewire-agent sim --socket PATH REQUEST`: prints the answer line to `out`. 0 for an answer,
// 1 for an {"error":…} answer or no answer (the reason on `err`).
int SimCommand(const std::string& socket_path, const std::string& request, std::ostream& out, std::ostream& err);

}  // namespace ew::agent::gpio
