#include "device-agent/session/reachability_probe.hpp"

#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

namespace ew::agent::session {
namespace {

using tcp = boost::asio::ip::tcp;
using std::chrono::milliseconds;

ew::Result<void> RunProbe(boost::asio::io_context& io, uint16_t port) {
  ReachabilityProbe probe(io);
  std::optional<ew::Result<void>> outcome;
  probe.Start("127.0.0.1", port, milliseconds(2000), [&](ew::Result<void> r) { outcome = std::move(r); });
  io.restart();
  io.run_for(std::chrono::seconds(5));
  EXPECT_TRUE(outcome.has_value());
  return outcome.value_or(ew::Internal("no outcome"));
}

TEST(ReachabilityProbeTest, AListeningPortIsReachable) {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  EXPECT_TRUE(RunProbe(io, acceptor.local_endpoint().port()).has_value());
}

TEST(ReachabilityProbeTest, AClosedPortIsUnavailableWithTheReason) {
  boost::asio::io_context io;
  uint16_t port;
  {
    tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }
  auto outcome = RunProbe(io, port);
  ASSERT_FALSE(outcome.has_value());
  EXPECT_EQ(outcome.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(outcome.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << outcome.error().message;
}

TEST(ReachabilityProbeTest, CancelledProbesNeverCallBack) {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  bool called = false;
  {
    ReachabilityProbe probe(io);
    probe.Start("127.0.0.1", acceptor.local_endpoint().port(), milliseconds(2000), [&](ew::Result<void>) { called = true; });
    probe.Cancel();
  }
  io.run_for(milliseconds(200));
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace ew::agent::session
