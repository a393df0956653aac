#include "device-agent/session/reachability_probe.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ew::agent::session {

namespace {
using tcp = boost::asio::ip::tcp;
}  // namespace

// One probe's sockets and timer; the handlers hold it alive, `done` is emptied once used.
struct ReachabilityProbe::Run {
  explicit Run(boost::asio::io_context& io) : resolver(io), socket(io), timer(io) {}
  tcp::resolver resolver;
  tcp::socket socket;
  boost::asio::steady_timer timer;
  std::function<void(ew::Result<void>)> done;
  std::string target;

  void Finish(ew::Result<void> result) {
    if (!done) return;
    auto callback = std::move(done);
    done = nullptr;
    Stop();
    callback(std::move(result));
  }
  void Stop() {
    boost::system::error_code ignored;
    timer.cancel();
    resolver.cancel();
    socket.close(ignored);
  }
};

void ReachabilityProbe::Start(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
                              std::function<void(ew::Result<void>)> done) {
  Cancel();
  auto run = std::make_shared<Run>(io_);
  run_ = run;
  run->done = std::move(done);
  run->target = host + ":" + std::to_string(port);
  run->timer.expires_after(timeout);
  run->timer.async_wait([run, timeout](const boost::system::error_code& ec) {
    if (ec) return;
    run->Finish(ew::Unavailable(run->target + ": no answer within " + std::to_string(timeout.count()) + "ms"));
  });
  run->resolver.async_resolve(
      host, std::to_string(port), [run](const boost::system::error_code& ec, tcp::resolver::results_type results) {
        if (!run->done) return;
        if (ec) return run->Finish(ew::Unavailable("cannot resolve " + run->target + ": " + ec.message()));
        boost::asio::async_connect(run->socket, results, [run](const boost::system::error_code& ec, const tcp::endpoint&) {
          if (!run->done) return;
          if (ec) return run->Finish(ew::Unavailable(run->target + ": " + ec.message()));
          run->Finish(ew::Ok());
        });
      });
}

void ReachabilityProbe::Cancel() {
  if (!run_) return;
  run_->done = nullptr;
  run_->Stop();
  run_.reset();
}

}  // namespace ew::agent::session
