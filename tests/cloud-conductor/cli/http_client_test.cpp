// HttpClient against a small Beast server on a loopback port: keep-alive reuse, a connection
// the server closed while idle, and the "cannot reach" message.
#include "cloud-conductor/cli/http_client.hpp"

#include <atomic>
#include <thread>

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

}  // namespace
}  // namespace ew::cli
