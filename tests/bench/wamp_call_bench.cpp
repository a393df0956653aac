// ew_bench_wamp_call: a WAMP caller for the Foundation benchmark. It joins the conductor's realm
// with an API token (ticket) over a Boost.Beast WebSocket (TCP_NODELAY) and our codec, then keeps
// K CALLs in flight (distinct request ids) to one procedure, usually ew.board.<id>.sys.ping, so
// each call goes caller → conductor → agent → conductor → caller. Prints one JSON line.
//
//   ew_bench_wamp_call --url ws://127.0.0.1:P/ws --token T --procedure ew.board.<id>.sys.ping
//                      --calls N --in-flight K [--size BYTES] [--serializer msgpack|json]
//                      [--ca-file CA.pem]   (wss:// URLs: the conductor's certificate is verified)
//
// Blocking Beast calls on one thread are enough: the caller does nothing but write CALLs and read
// RESULTs, and a pipeline of K small frames never fills a loopback socket buffer.
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "common/wamp/codec.hpp"
#include "tests/bench/bench_support.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace wamp = ew::wamp;
using tcp = net::ip::tcp;
using ew::bench::Clock;

struct Options {
  std::string url;
  std::string token;
  std::string procedure;
  std::string ca_file;  // wss: the CA that signed the conductor's certificate
  std::string realm = "edgewire";
  std::string serializer = "msgpack";
  size_t calls = 20'000;
  size_t in_flight = 1;
  size_t warmup = 1'000;
  size_t size = 16;              // bytes of the string argument sys.ping echoes back
  unsigned timeout_seconds = 120;  // whole run; a stuck callee must not hang the script
};

// Thrown for anything that ends the run; main prints it.
struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Stream: tcp::socket (ws://) or beast::ssl_stream<tcp::socket> (wss://).
template <class Stream>
class WampCaller {
 public:
  WampCaller(const Options& options, wamp::Serializer serializer, net::ssl::context* tls)
      : options_(options), serializer_(serializer), ws_(MakeStream(io_, tls)) {}

  void Connect() {
    auto url = ew::bench::ParseWsUrl(options_.url);
    if (!url) throw BenchError("bad url " + options_.url + " (want ws://host:port/path)");
    tcp::resolver resolver(io_);
    auto& socket = beast::get_lowest_layer(ws_);
    net::connect(socket, resolver.resolve(url->host, url->port));
    socket.set_option(tcp::no_delay(true));
    if constexpr (!std::is_same_v<Stream, tcp::socket>) {
      SSL_set_tlsext_host_name(ws_.next_layer().native_handle(), url->host.c_str());
      ws_.next_layer().set_verify_callback(net::ssl::host_name_verification(url->host));
      ws_.next_layer().handshake(net::ssl::stream_base::client);
    }
    std::string proto(wamp::SubprotocolName(serializer_));
    ws_.set_option(websocket::stream_base::decorator([proto](websocket::request_type& req) {
      req.set(http::field::sec_websocket_protocol, proto);
      req.set(http::field::user_agent, "ew-bench-wamp-call");
    }));
    websocket::response_type response;
    ws_.handshake(response, url->host + ":" + url->port, url->target);
    if (response[http::field::sec_websocket_protocol] != proto)
      throw BenchError("server did not accept subprotocol " + proto);
    ws_.binary(wamp::IsBinary(serializer_));
    ws_.auto_fragment(false);
  }

  // HELLO (ticket) → CHALLENGE → AUTHENTICATE(token) → WELCOME.
  void Join() {
    wamp::Hello hello;
    hello.realm = options_.realm;
    hello.details = {{"roles", {{"caller", wamp::Value::object()}}}, {"authmethods", {"ticket"}}};
    Send(hello);
    auto challenge = Receive();
    if (auto* abort = std::get_if<wamp::Abort>(&challenge)) throw BenchError("HELLO refused: " + abort->reason);
    if (!std::holds_alternative<wamp::Challenge>(challenge))
      throw BenchError(std::string("expected CHALLENGE, got ") + wamp::TypeName(wamp::TypeOf(challenge)));
    wamp::Authenticate authenticate;
    authenticate.signature = options_.token;
    Send(authenticate);
    auto welcome = Receive();
    if (auto* abort = std::get_if<wamp::Abort>(&welcome)) throw BenchError("token refused: " + abort->reason);
    if (!std::holds_alternative<wamp::Welcome>(welcome))
      throw BenchError(std::string("expected WELCOME, got ") + wamp::TypeName(wamp::TypeOf(welcome)));
  }

  struct Phase {
    ew::bench::LatencyRecorder latencies;
    Clock::duration elapsed{};
    std::chrono::microseconds cpu{};  // this process's CPU time over the phase
    size_t errors = 0;
    std::string first_error;
  };

  // Keeps `in_flight` CALLs outstanding until `calls` have answered.
  Phase RunCalls(size_t calls, size_t in_flight) {
    Phase phase;
    phase.latencies.Reserve(calls);
    const wamp::Id first_id = next_request_;
    phase_first_ = first_id;
    sent_at_.assign(calls, Clock::time_point{});
    size_t sent = 0;
    size_t done = 0;
    auto start = Clock::now();
    auto cpu_start = ew::bench::ProcessCpuTime();
    while (sent < calls && sent < in_flight) SendCall(first_id + sent++);
    while (done < calls) {
      Clock::time_point now;  // when the frame was read, before it is decoded (as the echo client)
      auto message = Receive(&now);
      wamp::Id request = 0;
      if (auto* result = std::get_if<wamp::Result>(&message)) {
        request = result->request;
      } else if (auto* error = std::get_if<wamp::ErrorMessage>(&message)) {
        request = error->request;
        if (phase.errors++ == 0) phase.first_error = error->error;
      } else if (auto* abort = std::get_if<wamp::Abort>(&message)) {
        throw BenchError("session aborted: " + abort->reason);
      } else if (auto* goodbye = std::get_if<wamp::Goodbye>(&message)) {
        throw BenchError("session closed by the router: " + goodbye->reason);
      } else {
        continue;  // nothing else is expected; ignore rather than guess
      }
      if (request < first_id || request >= first_id + calls) throw BenchError("answer to an unknown request id");
      phase.latencies.Add(now - sent_at_[request - first_id]);
      ++done;
      if (sent < calls) SendCall(first_id + sent++);
    }
    phase.elapsed = Clock::now() - start;
    phase.cpu = ew::bench::ProcessCpuTime() - cpu_start;
    next_request_ = first_id + calls;
    return phase;
  }

  // GOODBYE and a close frame; errors here do not spoil the measurement.
  void Leave() {
    beast::error_code ec;
    wamp::Goodbye goodbye;
    goodbye.reason = "wamp.close.normal";
    ws_.write(net::buffer(wamp::Encode(serializer_, goodbye)), ec);
    if (!ec) ws_.read(buffer_, ec);
    ws_.close(websocket::close_code::normal, ec);
  }

 private:
  void SendCall(wamp::Id request) {
    wamp::Call call;
    call.request = request;
    call.procedure = options_.procedure;
    if (options_.size > 0) call.payload.args = wamp::Value::array({std::string(options_.size, 'x')});
    std::string frame = wamp::Encode(serializer_, call);
    sent_at_[request - phase_first_] = Clock::now();
    ws_.write(net::buffer(frame));
  }

  void Send(const wamp::Message& message) { ws_.write(net::buffer(wamp::Encode(serializer_, message))); }

  wamp::Message Receive(Clock::time_point* read_at = nullptr) {
    buffer_.consume(buffer_.size());
    ws_.read(buffer_);
    if (read_at) *read_at = Clock::now();
    auto data = buffer_.cdata();
    auto message = wamp::Decode(serializer_, std::string_view(static_cast<const char*>(data.data()), data.size()));
    if (!message) throw BenchError("undecodable frame from the router: " + message.error().message);
    return std::move(*message);
  }

  static websocket::stream<Stream> MakeStream(net::io_context& io, net::ssl::context* tls) {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      return websocket::stream<Stream>(io);
    } else {
      return websocket::stream<Stream>(io, *tls);
    }
  }

  const Options& options_;
  wamp::Serializer serializer_;
  net::io_context io_;
  websocket::stream<Stream> ws_;
  beast::flat_buffer buffer_;
  std::vector<Clock::time_point> sent_at_;
  wamp::Id next_request_ = 1;  // ids stay distinct across phases
  wamp::Id phase_first_ = 1;   // first request id of the running phase
};

template <class Caller>
int Run(Caller&& caller, const Options& options, wamp::Serializer serializer) {
  caller.Connect();
  caller.Join();
  if (options.warmup > 0) caller.RunCalls(options.warmup, options.in_flight);
  auto phase = caller.RunCalls(options.calls, options.in_flight);
  caller.Leave();
  auto summary = phase.latencies.Summarize();
  nlohmann::json out = {
      {"bench", "wamp_call"},
      {"serializer", std::string(wamp::SubprotocolName(serializer))},
      {"procedure", options.procedure},
      {"calls", options.calls},
      {"in_flight", options.in_flight},
      {"size", options.size},
      {"errors", phase.errors},
      {"p50_us", summary.p50_us},
      {"p90_us", summary.p90_us},
      {"p99_us", summary.p99_us},
      {"mean_us", summary.mean_us},
      {"max_us", summary.max_us},
      {"calls_per_s", ew::bench::PerSecond(options.calls, phase.elapsed)},
      {"caller_cpu_us_per_call", ew::bench::CpuMicrosPer(options.calls, phase.cpu)},
  };
  if (phase.errors > 0) out["first_error"] = phase.first_error;
  std::cout << out.dump() << std::endl;
  return phase.errors > 0 ? 1 : 0;
}

void OnAlarm(int) {
  static const char kMessage[] = "ew_bench_wamp_call: timed out (is the agent serving the procedure?)\n";
  (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  _exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"WAMP call round trips through the conductor (Foundation benchmark)"};
  Options options;
  app.add_option("--url", options.url, "conductor WebSocket, ws://127.0.0.1:PORT/ws")->required();
  app.add_option("--token", options.token, "API token (WAMP ticket)")->required();
  app.add_option("--procedure", options.procedure, "procedure to call, e.g. ew.board.<id>.sys.ping")->required();
  app.add_option("--realm", options.realm, "WAMP realm");
  app.add_option("--ca-file", options.ca_file, "wss: CA certificate that signed the conductor's (PEM)");
  app.add_option("--serializer", options.serializer, "wamp.2 serializer")
      ->check(CLI::IsMember({"msgpack", "json"}));
  app.add_option("--calls", options.calls, "measured calls")->check(CLI::PositiveNumber);
  app.add_option("--in-flight", options.in_flight, "calls kept outstanding")->check(CLI::PositiveNumber);
  app.add_option("--warmup", options.warmup, "unmeasured calls made first, at the same in-flight");
  app.add_option("--size", options.size, "bytes of the string argument (0 = no arguments)");
  app.add_option("--timeout-seconds", options.timeout_seconds, "abort the whole run after this long");
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGALRM, &OnAlarm);
  ::alarm(options.timeout_seconds);
  auto serializer = options.serializer == "json" ? wamp::Serializer::kJson : wamp::Serializer::kMsgpack;
  try {
    auto url = ew::bench::ParseWsUrl(options.url);
    if (!url) throw BenchError("bad url " + options.url + " (want ws:// or wss://host:port/path)");
    if (!url->tls) return Run(WampCaller<tcp::socket>(options, serializer, nullptr), options, serializer);
    net::ssl::context tls(net::ssl::context::tls_client);
    tls.set_verify_mode(net::ssl::verify_peer);
    if (options.ca_file.empty()) {
      tls.set_default_verify_paths();
    } else {
      tls.load_verify_file(options.ca_file);
    }
    return Run(WampCaller<beast::ssl_stream<tcp::socket>>(options, serializer, &tls), options, serializer);
  } catch (const std::exception& e) {
    std::cerr << "ew_bench_wamp_call: " << e.what() << "\n";
    return 1;
  }
}
