// Limits before authentication, over raw sockets on 127.0.0.1: a slow header or body is dropped
// by its deadline (not by the keep-alive idle timeout), connection caps close what is past them,
// Admit answers 401 on the header without the body being read, the declared size gets 413 before
// the body is read, and a large-body route takes a 2 MiB body sent with Content-Length (issue 11).
#include <atomic>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "cloud-conductor/server/server.hpp"
#include "common/metrics/metrics.hpp"
#include "tests/support/eventually.hpp"

namespace ew::server {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using std::chrono::milliseconds;

// Admits a request with a body only with "X-Auth-Token: good", as REST does, and records what
// it saw; answers with the body's size.
class GuardedHandler final : public HttpHandler {
 public:
  void Admit(const HttpRequestHead& head, AdmitDone admit) override {
    {
      std::lock_guard lock(mu_);
      last_declared_ = head.body_bytes;
    }
    ++admits;
    if (!head.has_body() || head.Header("x-auth-token") == "good") {
      return admit(Admission{std::nullopt, std::string("ctx")});
    }
    HttpResponse refusal;
    refusal.status = 401;
    refusal.body = R"({"error":{"code":"unauthenticated","message":"bad token"}})";
    // From another thread, as REST answers from the blocking pool.
    std::thread([admit, refusal] { admit(Admission{refusal, {}}); }).detach();
  }
  void Handle(HttpRequest request, Respond respond) override {
    ++handled;
    HttpResponse response;
    const auto* context = std::any_cast<std::string>(&request.admission);
    response.body = std::to_string(request.body.size()) + " " + (context ? *context : "-");
    respond(std::move(response));
  }
  std::optional<uint64_t> last_declared() {
    std::lock_guard lock(mu_);
    return last_declared_;
  }
  std::atomic<int> admits{0};
  std::atomic<int> handled{0};

 private:
  std::mutex mu_;
  std::optional<uint64_t> last_declared_;
};

class LimitsTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options) {
    options.max_http_body_bytes = 1024;
    options.large_body_paths = {"/v1/functions"};
    options.max_large_http_body_bytes = 16 << 20;
    server_ = std::make_unique<Server>(io_, options, handler_, nullptr, &metrics_);
    port_ = *server_->Start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~LimitsTest() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  tcp::socket Connect() {
    tcp::socket socket(client_io_);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    return socket;
  }

  // Reads what comes within `within`: the text, and whether the server closed the connection.
  struct Received {
    std::string text;
    bool closed = false;
  };
  Received ReadFor(tcp::socket& socket, milliseconds within, const std::string& until = "") {
    Received out;
    const auto deadline = std::chrono::steady_clock::now() + within;
    socket.non_blocking(true);
    while (std::chrono::steady_clock::now() < deadline) {
      char data[65536];
      boost::system::error_code ec;
      size_t n = socket.read_some(net::buffer(data), ec);
      if (ec == net::error::would_block) {
        std::this_thread::sleep_for(milliseconds(5));
        continue;
      }
      if (ec) {
        out.closed = true;
        break;
      }
      out.text.append(data, n);
      if (!until.empty() && out.text.find(until) != std::string::npos) break;
    }
    socket.non_blocking(false);
    return out;
  }

  // Sends `text` a byte at a time, `gap` apart, until the server closes or `limit` passed;
  // returns how long the server let it go on.
  milliseconds Trickle(tcp::socket& socket, const std::string& text, milliseconds gap, milliseconds limit) {
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0;; i = (i + 1) % text.size()) {
      boost::system::error_code ec;
      net::write(socket, net::buffer(&text[i], 1), ec);
      auto got = ReadFor(socket, gap);
      const auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
      if (ec || got.closed || elapsed > limit) return elapsed;
    }
  }

  double Counter(const std::string& name, const std::string& reason) {
    return metrics_.GetCounter(name, "", {{"reason", reason}}).Value();
  }

  // The counter once it reaches `want`, or its value after two seconds. For the drops on a
  // deadline: Beast's stream closes the socket in its timer, and the read's handler, which counts
  // the drop, runs after that on the server's thread, so the client may see the close first.
  double CounterReaches(const std::string& name, const std::string& reason, double want) {
    test::Eventually([&] { return Counter(name, reason) >= want; }, std::chrono::seconds(2));
    return Counter(name, reason);
  }

  net::io_context io_;
  net::io_context client_io_;
  metrics::Registry metrics_;
  GuardedHandler handler_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(LimitsTest, Issue11_ASlowHeaderSenderIsDroppedByTheHeaderDeadline) {
  ServerOptions options;
  options.header_timeout = milliseconds(800);
  Start(options);
  auto socket = Connect();
  // One header byte every 100 ms: the connection never idles, yet the header never ends.
  const auto held = Trickle(socket, "GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", milliseconds(100),
                            milliseconds(10'000));
  EXPECT_GE(held, milliseconds(700));
  EXPECT_LT(held, milliseconds(3'000));
  EXPECT_EQ(CounterReaches("ew_server_connections_dropped_total", "header_timeout", 1), 1);
  EXPECT_EQ(handler_.admits.load(), 0);
}

TEST_F(LimitsTest, ASilentNewConnectionIsDroppedAfterTheHeaderDeadline) {
  ServerOptions options;
  options.header_timeout = milliseconds(500);
  Start(options);
  auto socket = Connect();
  auto got = ReadFor(socket, milliseconds(3'000));
  EXPECT_TRUE(got.closed);
}

TEST_F(LimitsTest, AKeepAliveConnectionMayIdleLongerThanTheHeaderDeadline) {
  ServerOptions options;
  options.header_timeout = milliseconds(300);
  options.http_idle_timeout = std::chrono::seconds(30);
  Start(options);
  auto socket = Connect();
  const std::string get = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  net::write(socket, net::buffer(get));
  EXPECT_NE(ReadFor(socket, milliseconds(2'000), "0 ctx").text.find("200 OK"), std::string::npos);
  auto idle = ReadFor(socket, milliseconds(1'000));  // over three header deadlines of silence
  EXPECT_FALSE(idle.closed);
  net::write(socket, net::buffer(get));
  EXPECT_NE(ReadFor(socket, milliseconds(2'000), "0 ctx").text.find("200 OK"), std::string::npos);
}

TEST_F(LimitsTest, ASlowBodyIsDroppedByTheMinimumRate) {
  ServerOptions options;
  options.body_timeout = milliseconds(500);
  options.body_min_bytes_per_second = 1000;
  Start(options);
  auto socket = Connect();
  const std::string head =
      "POST /v1/functions HTTP/1.1\r\nHost: x\r\nX-Auth-Token: good\r\nContent-Length: 100000\r\n\r\n";
  net::write(socket, net::buffer(head));
  // One byte every 10 ms is 100 B/s, far under the 1000 B/s asked for.
  const auto held = Trickle(socket, "0123456789", milliseconds(10), milliseconds(10'000));
  EXPECT_LT(held, milliseconds(3'000));
  EXPECT_EQ(CounterReaches("ew_server_connections_dropped_total", "body_timeout", 1), 1);
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(LimitsTest, Issue11_ABadTokenGets401WithoutTheBodyBeingRead) {
  Start(ServerOptions{});
  auto socket = Connect();
  // 10 MB announced on the large-body route; not a byte of it is sent.
  const std::string head =
      "POST /v1/functions HTTP/1.1\r\nHost: x\r\nX-Auth-Token: wrong\r\nContent-Length: 10000000\r\n\r\n";
  net::write(socket, net::buffer(head));
  auto got = ReadFor(socket, milliseconds(2'000), "bad token");
  EXPECT_NE(got.text.find("HTTP/1.1 401"), std::string::npos) << got.text;
  EXPECT_NE(got.text.find("Connection: close"), std::string::npos) << got.text;
  EXPECT_EQ(handler_.last_declared(), std::optional<uint64_t>(10'000'000));
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(LimitsTest, ADeclaredSizeOverTheRouteLimitGets413BeforeTheBodyOrAdmit) {
  Start(ServerOptions{});
  auto socket = Connect();
  const std::string head = "POST /v1/boards HTTP/1.1\r\nHost: x\r\nX-Auth-Token: good\r\nContent-Length: 2048\r\n\r\n";
  net::write(socket, net::buffer(head));
  auto got = ReadFor(socket, milliseconds(2'000), "}}");
  EXPECT_NE(got.text.find("HTTP/1.1 413"), std::string::npos) << got.text;
  EXPECT_NE(got.text.find("\"resource_exhausted\""), std::string::npos) << got.text;
  EXPECT_EQ(handler_.admits.load(), 0);
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(LimitsTest, AChunkedBodyOverTheLimitGets413) {
  Start(ServerOptions{});
  auto socket = Connect();
  std::string request =
      "POST /v1/boards HTTP/1.1\r\nHost: x\r\nX-Auth-Token: good\r\nTransfer-Encoding: chunked\r\n\r\n";
  request += "800\r\n" + std::string(2048, 'x') + "\r\n0\r\n\r\n";
  net::write(socket, net::buffer(request));
  auto got = ReadFor(socket, milliseconds(2'000), "}}");
  EXPECT_NE(got.text.find("HTTP/1.1 413"), std::string::npos) << got.text;
  EXPECT_NE(got.text.find("\"resource_exhausted\""), std::string::npos) << got.text;
  EXPECT_EQ(handler_.handled.load(), 0);
}

TEST_F(LimitsTest, Issue11_ATwoMiBPackageWithContentLengthIsAccepted) {
  Start(ServerOptions{});
  auto socket = Connect();
  const std::string body(2 << 20, 'p');
  const std::string head = "POST /v1/functions HTTP/1.1\r\nHost: x\r\nX-Auth-Token: good\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  net::write(socket, net::buffer(head + body));
  auto got = ReadFor(socket, milliseconds(5'000), "ctx");
  EXPECT_NE(got.text.find("HTTP/1.1 200"), std::string::npos) << got.text.substr(0, 300);
  EXPECT_NE(got.text.find(std::to_string(body.size()) + " ctx"), std::string::npos) << "Admit's context reaches Handle";
}

TEST_F(LimitsTest, ExpectContinueGets100BeforeTheBody) {
  Start(ServerOptions{});
  auto socket = Connect();
  net::write(socket, net::buffer(std::string("POST /v1/x HTTP/1.1\r\nHost: x\r\nX-Auth-Token: good\r\n"
                                             "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")));
  EXPECT_NE(ReadFor(socket, milliseconds(2'000), "\r\n\r\n").text.find("HTTP/1.1 100 Continue"), std::string::npos);
  net::write(socket, net::buffer(std::string("hello")));
  EXPECT_NE(ReadFor(socket, milliseconds(2'000), "5 ctx").text.find("HTTP/1.1 200"), std::string::npos);
}

TEST_F(LimitsTest, ConnectionsPastThePerAddressCapAreClosedAtOnceAndCounted) {
  ServerOptions options;
  options.max_connections_per_address = 3;
  options.header_timeout = std::chrono::seconds(30);
  Start(options);
  std::vector<tcp::socket> held;
  for (int i = 0; i < 3; ++i) held.push_back(Connect());
  // Let the server take all three before the fourth arrives.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (metrics_.GetGauge("ew_server_connections_open", "").Value() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(5));
  auto extra = Connect();
  EXPECT_TRUE(ReadFor(extra, milliseconds(2'000)).closed);
  EXPECT_EQ(Counter("ew_server_connections_refused_total", "address_cap"), 1);
  // A freed slot takes a new connection again.
  held.pop_back();
  while (metrics_.GetGauge("ew_server_connections_open", "").Value() > 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(5));
  auto again = Connect();
  net::write(again, net::buffer(std::string("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_NE(ReadFor(again, milliseconds(2'000), "0 ctx").text.find("200 OK"), std::string::npos);
}

TEST_F(LimitsTest, ConnectionsPastTheGlobalCapAreClosedAtOnceAndCounted) {
  ServerOptions options;
  options.max_connections = 2;
  options.header_timeout = std::chrono::seconds(30);
  Start(options);
  auto a = Connect();
  auto b = Connect();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (metrics_.GetGauge("ew_server_connections_open", "").Value() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(5));
  auto c = Connect();
  EXPECT_TRUE(ReadFor(c, milliseconds(2'000)).closed);
  EXPECT_EQ(Counter("ew_server_connections_refused_total", "global_cap"), 1);
  EXPECT_NE(metrics_.RenderPrometheus().find("ew_server_connections_refused_total{reason=\"global_cap\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace ew::server
