// ew_bench_ws_echo: the one-hop baseline of the Foundation benchmark. A raw websocketpp 0.8.2
// echo between two processes (asio, no TLS, TCP_NODELAY on both sides), i.e. the transport the
// agent uses, with no WAMP and no router: the floor a WAMP call through the conductor is held to.
//
//   ew_bench_ws_echo server --port P          prints "listening on 127.0.0.1:<port>", echoes forever
//   ew_bench_ws_echo client --url ws://127.0.0.1:P --messages N --in-flight K --size BYTES
//                           [--mask random_device|prng]
//                                             prints one JSON line (p50/p99 round trip, msgs/s)
//
// --mask: websocketpp's client draws every frame's masking key from std::random_device, which
// libstdc++ 12 serves with the RDSEED instruction on x86; RDSEED is slow and runs dry at tens of
// thousands of calls per second, so that draw can dominate a loopback round trip. "prng" swaps in
// a seeded xorshift (as Beast does) to show the transport without it. The agent's websocketpp
// client pays the random_device cost on every frame it sends.
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>
#include <websocketpp/server.hpp>

#include "tests/bench/bench_support.hpp"

namespace {

namespace asio = websocketpp::lib::asio;
using EchoServer = websocketpp::server<websocketpp::config::asio>;
using ew::bench::Clock;

// Masking keys from xorshift32 seeded once from std::random_device: unpredictable enough for a
// loopback benchmark, and one add-and-shift instead of an RDSEED per frame.
class XorshiftMaskRng {
 public:
  XorshiftMaskRng() : state_(std::random_device{}() | 1u) {}
  uint32_t operator()() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }

 private:
  uint32_t state_;
};

struct PrngMaskClientConfig : websocketpp::config::asio_client {
  using type = PrngMaskClientConfig;
  using rng_type = XorshiftMaskRng;
};

// websocketpp logs every connection to stdout by default; keep only real errors, on stderr.
template <typename Endpoint>
void QuietLogs(Endpoint& endpoint) {
  endpoint.clear_access_channels(websocketpp::log::alevel::all);
  endpoint.clear_error_channels(websocketpp::log::elevel::all);
  endpoint.set_error_channels(websocketpp::log::elevel::rerror | websocketpp::log::elevel::fatal);
}

void NoDelay(websocketpp::connection_hdl, asio::ip::tcp::socket& socket) {
  asio::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
}

int RunServer(uint16_t port) {
  EchoServer server;
  QuietLogs(server);
  server.init_asio();
  server.set_reuse_addr(true);
  server.set_socket_init_handler(&NoDelay);
  server.set_message_handler([&server](websocketpp::connection_hdl hdl, EchoServer::message_ptr message) {
    websocketpp::lib::error_code ec;
    server.send(hdl, message->get_payload(), message->get_opcode(), ec);
  });
  websocketpp::lib::error_code ec;  // std::error_code in websocketpp's C++11 mode
  server.listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (!ec) server.start_accept(ec);
  if (ec) {
    std::cerr << "ew_bench_ws_echo: cannot listen on 127.0.0.1:" << port << ": " << ec.message() << "\n";
    return 1;
  }
  asio::error_code asio_ec;  // the transport layer speaks Boost's error_code
  auto bound = server.get_local_endpoint(asio_ec);
  // The first stdout line tells the orchestration script which port to use.
  std::cout << "listening on 127.0.0.1:" << bound.port() << std::endl;

  asio::signal_set signals(server.get_io_service(), SIGINT, SIGTERM);
  signals.async_wait([&server](const asio::error_code&, int) { server.stop(); });
  server.run();
  return 0;
}

struct ClientOptions {
  std::string url = "ws://127.0.0.1:9002";
  size_t messages = 100'000;
  size_t in_flight = 1;
  size_t size = 100;
  size_t warmup = 1'000;
  std::string mask = "random_device";  // or "prng"; see the file comment
};

// Keeps `in_flight` messages outstanding. Each payload starts with its sequence number, so the
// echo tells which send it answers; the first `warmup` echoes are not measured.
template <typename ClientConfig>
class EchoRun {
 public:
  using EchoClient = websocketpp::client<ClientConfig>;

  explicit EchoRun(const ClientOptions& options) : options_(options), total_(options.warmup + options.messages) {
    sent_at_.resize(total_);
    latencies_.Reserve(options.messages);
    payload_.assign(std::max<size_t>(options.size, sizeof(uint64_t)), 'x');
  }

  int Run() {
    QuietLogs(client_);
    client_.init_asio();
    client_.set_socket_init_handler(&NoDelay);
    client_.set_open_handler([this](websocketpp::connection_hdl hdl) { OnOpen(hdl); });
    client_.set_message_handler(
        [this](websocketpp::connection_hdl hdl, typename EchoClient::message_ptr message) { OnMessage(hdl, message); });
    client_.set_fail_handler([this](websocketpp::connection_hdl hdl) {
      error_ = "connection failed: " + client_.get_con_from_hdl(hdl)->get_ec().message();
    });
    client_.set_close_handler([this](websocketpp::connection_hdl) {
      if (received_ < total_) error_ = "connection closed after " + std::to_string(received_) + " echoes";
    });
    websocketpp::lib::error_code ec;
    auto connection = client_.get_connection(options_.url, ec);
    if (ec) {
      std::cerr << "ew_bench_ws_echo: bad url " << options_.url << ": " << ec.message() << "\n";
      return 2;
    }
    client_.connect(connection);
    client_.run();
    if (!error_.empty()) {
      std::cerr << "ew_bench_ws_echo: " << error_ << "\n";
      return 1;
    }
    Print();
    return 0;
  }

 private:
  void OnOpen(websocketpp::connection_hdl hdl) {
    measure_start_ = Clock::now();
    cpu_start_ = ew::bench::ProcessCpuTime();
    while (sent_ < total_ && sent_ < options_.in_flight) SendNext(hdl);
  }

  void SendNext(websocketpp::connection_hdl hdl) {
    uint64_t seq = sent_++;
    std::memcpy(payload_.data(), &seq, sizeof seq);
    sent_at_[seq] = Clock::now();
    websocketpp::lib::error_code ec;
    client_.send(hdl, payload_, websocketpp::frame::opcode::binary, ec);
    if (ec) error_ = "send failed: " + ec.message();
  }

  void OnMessage(websocketpp::connection_hdl hdl, const typename EchoClient::message_ptr& message) {
    auto now = Clock::now();
    const std::string& echo = message->get_payload();
    uint64_t seq = 0;
    if (echo.size() < sizeof seq) {
      error_ = "short echo";
      client_.close(hdl, websocketpp::close::status::normal, "", ignored_);
      return;
    }
    std::memcpy(&seq, echo.data(), sizeof seq);
    if (seq >= total_) {
      error_ = "echo of an unknown message";
      client_.close(hdl, websocketpp::close::status::normal, "", ignored_);
      return;
    }
    if (seq >= options_.warmup) latencies_.Add(now - sent_at_[seq]);
    if (++received_ == options_.warmup) {
      measure_start_ = now;
      cpu_start_ = ew::bench::ProcessCpuTime();
    }
    if (sent_ < total_) SendNext(hdl);
    if (received_ == total_) {
      measure_end_ = now;
      cpu_used_ = ew::bench::ProcessCpuTime() - cpu_start_;
      client_.close(hdl, websocketpp::close::status::normal, "done", ignored_);
    }
  }

  void Print() {
    auto summary = latencies_.Summarize();
    nlohmann::json out = {
        {"bench", "ws_echo"},
        {"messages", options_.messages},
        {"in_flight", options_.in_flight},
        {"size", payload_.size()},
        {"mask", options_.mask},
        {"p50_us", summary.p50_us},
        {"p90_us", summary.p90_us},
        {"p99_us", summary.p99_us},
        {"mean_us", summary.mean_us},
        {"max_us", summary.max_us},
        {"msgs_per_s", ew::bench::PerSecond(options_.messages, measure_end_ - measure_start_)},
        {"client_cpu_us_per_msg", ew::bench::CpuMicrosPer(options_.messages, cpu_used_)},
    };
    std::cout << out.dump() << std::endl;
  }

  ClientOptions options_;
  size_t total_;
  EchoClient client_;
  std::string payload_;
  std::vector<Clock::time_point> sent_at_;
  ew::bench::LatencyRecorder latencies_;
  size_t sent_ = 0;
  size_t received_ = 0;
  Clock::time_point measure_start_;
  Clock::time_point measure_end_;
  std::chrono::microseconds cpu_start_{};
  std::chrono::microseconds cpu_used_{};
  std::string error_;
  websocketpp::lib::error_code ignored_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"WebSocket echo baseline (websocketpp, TCP_NODELAY) for the Foundation benchmark"};
  app.require_subcommand(1);
  uint16_t port = 0;
  auto* server = app.add_subcommand("server", "echo every message back; prints the bound port");
  server->add_option("--port", port, "TCP port on 127.0.0.1 (0 = any free port)");
  ClientOptions options;
  auto* client = app.add_subcommand("client", "measure round trips against a server");
  client->add_option("--url", options.url, "ws://127.0.0.1:PORT")->required();
  client->add_option("--messages", options.messages, "measured messages")->check(CLI::PositiveNumber);
  client->add_option("--in-flight", options.in_flight, "messages kept outstanding")->check(CLI::PositiveNumber);
  client->add_option("--size", options.size, "payload bytes (at least 8)");
  client->add_option("--warmup", options.warmup, "unmeasured messages sent first");
  client->add_option("--mask", options.mask, "masking-key source: websocketpp's default or a seeded PRNG")
      ->check(CLI::IsMember({"random_device", "prng"}));
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGPIPE, SIG_IGN);
  if (server->parsed()) return RunServer(port);
  if (options.mask == "prng") return EchoRun<PrngMaskClientConfig>(options).Run();
  return EchoRun<websocketpp::config::asio_client>(options).Run();
}
