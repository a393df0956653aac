// HttpClient against a small Beast server on a loopback port: keep-alive reuse, a connection
// the server closed while idle, and the "cannot reach" message.
#include "cloud-conductor/cli/http_client.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

namespace ew::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Serves `per_connection` requests on each accepted connection, then closes it; answers with
// the connection's number, the request's method, target and token.
class LoopbackServer {
 public:
  explicit LoopbackServer(int per_connection) : per_connection_(per_connection) {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] { Serve(); });
  }
  ~LoopbackServer() {
    stopping_ = true;
    beast::error_code ignored;
    // Wake the accept with a connection of our own.
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ignored);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  int connections() const { return connections_; }

 private:
  void Serve() {
    while (true) {
      tcp::socket socket(io_);
      beast::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      const int number = ++connections_;
      beast::flat_buffer buffer;
      for (int i = 0; i < per_connection_; ++i) {
        http::request<http::string_body> request;
        http::read(socket, buffer, request, ec);
        if (ec) break;
        http::response<http::string_body> response{http::status::ok, 11};
        response.set(http::field::content_type, "application/json");
        response.body() = "{\"connection\":" + std::to_string(number) + ",\"method\":\"" +
                          std::string(request.method_string()) + "\",\"target\":\"" + std::string(request.target()) +
                          "\",\"token\":\"" + std::string(request["X-Auth-Token"]) + "\",\"body\":" +
                          std::to_string(request.body().size()) + "}";
        response.keep_alive(true);
        response.prepare_payload();
        http::write(socket, response, ec);
        if (ec) break;
      }
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  const int per_connection_;
};

TEST(HttpClientTest, ReusesTheConnection) {
  LoopbackServer server(100);
  HttpClient client(*ParseUrl(server.url() + "/base"));
  for (int i = 0; i < 3; ++i) {
    auto result = client.Send("POST", "/v1/x", "{\"a\":1}", "ewt_t");
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->status, 200);
    EXPECT_EQ(result->content_type, "application/json");
    EXPECT_EQ(result->body, R"({"connection":1,"method":"POST","target":"/base/v1/x","token":"ewt_t","body":7})");
  }
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClientTest, ReconnectsWhenTheServerClosedAnIdleConnection) {
  LoopbackServer server(1);
  HttpClient client(*ParseUrl(server.url()));
  for (int i = 1; i <= 3; ++i) {
    auto result = client.Send("GET", "/v1/y");
    ASSERT_TRUE(result) << "request " << i << ": " << result.error().message;
    EXPECT_NE(result->body.find("\"connection\":" + std::to_string(i)), std::string::npos) << result->body;
  }
}

TEST(HttpClientTest, RefusedConnectionSaysWhere) {
  // A port that was just free: nothing listens there now.
  asio::io_context io;
  tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
  const std::string url = "http://127.0.0.1:" + std::to_string(probe.local_endpoint().port());
  probe.close();
  HttpClient client(*ParseUrl(url));
  auto result = client.Send("GET", "/healthz");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(result.error().message.rfind("cannot reach the conductor at " + url + ": ", 0), 0u)
      << result.error().message;
}

// Issue 11: a CA file that cannot be used is reported as such, before any connection, and is
// not read at all for plain http.
TEST(HttpClientTest, UnusableCaFileIsNamed) {
  HttpClient secure(*ParseUrl("https://127.0.0.1:1"), std::chrono::seconds(5), "/nonexistent/ca.pem");
  auto result = secure.Send("GET", "/healthz");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(result.error().message.find("--ca-file /nonexistent/ca.pem"), std::string::npos) << result.error().message;

  HttpClient plain(*ParseUrl("http://127.0.0.1:1"), std::chrono::seconds(5), "/nonexistent/ca.pem");
  result = plain.Send("GET", "/healthz");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable) << result.error().message;
}

// Answers one request with a chunked 200 whose chunks the test hands over one by one, or with
// `status` and a JSON body; records whether the client hung up before the body ended.
class StreamingServer {
 public:
  explicit StreamingServer(int status = 200) : status_(status) {
    acceptor_.open(tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] { Serve(); });
  }
  ~StreamingServer() {
    Send("");  // wakes a server waiting for a chunk
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  // The next chunk; "" ends the body.
  void Send(std::string chunk) {
    std::lock_guard lock(mu_);
    chunks_.push_back(std::move(chunk));
    cv_.notify_all();
  }
  std::string target() {
    std::lock_guard lock(mu_);
    return target_;
  }
  std::string accept() {
    std::lock_guard lock(mu_);
    return accept_;
  }
  // Whether a write failed: the client hung up mid-stream.
  bool hung_up() const { return hung_up_; }

 private:
  void Serve() {
    tcp::socket socket(io_);
    beast::error_code ec;
    acceptor_.accept(socket, ec);
    if (ec) return;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(socket, buffer, request, ec);
    {
      std::lock_guard lock(mu_);
      target_ = std::string(request.target());
      accept_ = std::string(request[http::field::accept]);
    }
    if (status_ != 200) {
      http::response<http::string_body> response{static_cast<http::status>(status_), 11};
      response.body() = R"({"error":{"code":"conflict","message":"line GPIO17 is busy"}})";
      response.prepare_payload();
      http::write(socket, response, ec);
      return;
    }
    http::response<http::empty_body> head{http::status::ok, 11};
    head.set(http::field::content_type, "text/event-stream");
    head.chunked(true);
    http::response_serializer<http::empty_body> serializer{head};
    http::write_header(socket, serializer, ec);
    for (;;) {
      std::string chunk;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !chunks_.empty(); });
        chunk = std::move(chunks_.front());
        chunks_.pop_front();
      }
      if (chunk.empty()) {
        asio::write(socket, http::make_chunk_last(), ec);
        break;
      }
      // After the client hung up a write fails, though the first may still land in the kernel:
      // with the probe on, keep writing (for 10 s at most) until one fails.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      do {
        asio::write(socket, http::make_chunk(asio::buffer(chunk)), ec);
        if (hung_up_probe_ && !ec) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } while (hung_up_probe_ && !ec && std::chrono::steady_clock::now() < deadline);
      if (ec) {
        hung_up_ = true;
        break;
      }
    }
  }

 public:
  std::atomic<bool> hung_up_probe_{false};  // keep writing the chunk until the write fails

 private:
  const int status_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  std::string target_, accept_;
  std::atomic<bool> hung_up_{false};
};

TEST(HttpClientTest, StreamHandsOverTheBodyAsItComes) {
  StreamingServer server;
  HttpClient client(*ParseUrl(server.url() + "/base"));
  std::vector<std::string> pieces;
  server.Send("data: 1\n\n");
  auto result = client.Stream("/v1/s", "ewt_t",
                              [&](std::string_view data) {
                                pieces.emplace_back(data);
                                // Each piece arrives before the server sends the next one.
                                if (pieces.size() == 1) server.Send("data: 2\n\n");
                                if (pieces.size() == 2) server.Send("");
                                return true;
                              },
                              std::chrono::seconds(10));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->content_type, "text/event-stream");
  EXPECT_EQ(pieces, (std::vector<std::string>{"data: 1\n\n", "data: 2\n\n"}));
  EXPECT_EQ(server.target(), "/base/v1/s");
  EXPECT_EQ(server.accept(), "text/event-stream");
}

TEST(HttpClientTest, StreamStopsWhenTheCallerHasEnough) {
  StreamingServer server;
  server.hung_up_probe_ = true;  // the server repeats its chunk until the client has hung up
  HttpClient client(*ParseUrl(server.url()));
  server.Send("data: 1\n\n");
  int calls = 0;
  auto result = client.Stream("/v1/s", "", [&](std::string_view) { return ++calls < 1; }, std::chrono::seconds(10));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(calls, 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server.hung_up() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(server.hung_up());
}

TEST(HttpClientTest, StreamReturnsOtherAnswersWhole) {
  StreamingServer server(409);
  HttpClient client(*ParseUrl(server.url()));
  bool called = false;
  auto result = client.Stream("/v1/s", "", [&](std::string_view) { return called = true; }, std::chrono::seconds(10));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, 409);
  EXPECT_EQ(result->body, R"({"error":{"code":"conflict","message":"line GPIO17 is busy"}})");
  EXPECT_FALSE(called);
}

TEST(HttpClientTest, ASilentStreamTimesOut) {
  StreamingServer server;
  HttpClient client(*ParseUrl(server.url()));
  auto result = client.Stream("/v1/s", "", [](std::string_view) { return true; }, std::chrono::milliseconds(50));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace ew::cli
