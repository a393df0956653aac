// http request against a real HTTP server (Boost.Beast, a thread, 127.0.0.1 port 0).
#include <atomic>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "tests/flows/support/flow_harness.hpp"

namespace ew::flows::testing {
namespace {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

// Answers each request with {"method","target","body","header"}; "/slow" is never answered.
class EchoServer {
 public:
  EchoServer() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] {
      while (!stop_) {
        tcp::socket socket(io_);
        boost::system::error_code ec;
        acceptor_.accept(socket, ec);
        if (ec || stop_) return;
        boost::beast::flat_buffer buffer;
        http::request<http::string_body> req;
        http::read(socket, buffer, req, ec);
        if (ec) continue;
        if (req.target() == "/slow") {
          held_.push_back(std::move(socket));
          continue;
        }
        http::response<http::string_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        res.set("X-Test", "yes");
        res.body() = nlohmann::json{{"method", std::string(req.method_string())}, {"target", std::string(req.target())},
                                    {"body", req.body()}, {"header", std::string(req["X-Custom"])}}
                         .dump();
        res.prepare_payload();
        http::write(socket, res, ec);
      }
    });
  }
  ~EchoServer() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
  }

 private:
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::vector<tcp::socket> held_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// http request help: msg.payload (txt/obj/bin), msg.statusCode, msg.headers, msg.responseUrl;
// the URL may use mustache ({{{topic}}}); msg.headers are sent; "use" takes msg.method.
TEST(HttpRequestNode, GetAndPost) {
  EchoServer server;
  Harness h;
  h.LoadOrFail({N("get", "http request", {{"out"}}, {{"method", "GET"}, {"ret", "obj"}, {"url", server.Url("/items/{{{topic}}}")}}),
                N("post", "http request", {{"out"}}, {{"method", "use"}, {"ret", "txt"}, {"url", ""}}), Sink("out")});
  h.runtime.DeliverTo("get", {{"topic", "42"}, {"headers", {{"X-Custom", "hello"}}}});
  ASSERT_TRUE(h.RunUntil([&] { return h.Seen("out").size() == 1; }));
  json m = h.Seen("out")[0];
  EXPECT_EQ(m["statusCode"], 200);
  EXPECT_EQ(m["payload"]["method"], "GET");
  EXPECT_EQ(m["payload"]["target"], "/items/42");
  EXPECT_EQ(m["payload"]["header"], "hello");
  EXPECT_EQ(m["headers"]["x-test"], "yes");
  EXPECT_EQ(m["responseUrl"], server.Url("/items/42"));

  h.runtime.DeliverTo("post", {{"method", "post"}, {"url", server.Url("/p")}, {"payload", {{"a", 1}}}});
  ASSERT_TRUE(h.RunUntil([&] { return h.Seen("out").size() == 2; }));
  json body = json::parse(h.Seen("out")[1]["payload"].get<std::string>());
  EXPECT_EQ(body["method"], "POST");
  EXPECT_EQ(body["body"], "{\"a\":1}");
}

TEST(HttpRequestNode, TimeoutAndRefusedConnectionGoToCatch) {
  EchoServer server;
  Harness h;
  h.LoadOrFail({N("r", "http request", {{"out"}}, {{"method", "GET"}, {"ret", "txt"}}), Sink("out"),
                N("c", "catch", {{"err"}}), Sink("err")});
  h.runtime.DeliverTo("r", {{"url", server.Url("/slow")}, {"requestTimeout", 200}});
  ASSERT_TRUE(h.RunUntil([&] { return h.Seen("err").size() == 1; }));
  EXPECT_NE(h.Seen("err")[0]["error"]["message"].get<std::string>().find("timed out"), std::string::npos);
  h.runtime.DeliverTo("r", {{"url", "http://127.0.0.1:1/"}});
  ASSERT_TRUE(h.RunUntil([&] { return h.Seen("err").size() == 2; }));
  EXPECT_TRUE(h.Seen("out").empty());
}

TEST(HttpRequestNode, HttpsIsRefusedPerMessage) {
  Harness h;
  h.LoadOrFail({N("r", "http request", {{}}, {{"method", "GET"}, {"ret", "txt"}}), N("c", "catch", {{"err"}}), Sink("err")});
  h.runtime.DeliverTo("r", {{"url", "https://example.com/"}});
  h.Settle();
  ASSERT_EQ(h.Seen("err").size(), 1u);
  EXPECT_NE(h.Seen("err")[0]["error"]["message"].get<std::string>().find("https"), std::string::npos);
}

// Beast writes a method, a target and header fields as given: a CR or LF from a message would
// add headers or a second request of the message's choosing. Each is refused, nothing is sent.
TEST(HttpRequestNode, ControlCharactersFromAMessageAreRefusedNotSent) {
  EchoServer server;
  Harness h;
  h.LoadOrFail({N("r", "http request", {{"out"}}, {{"method", "use"}, {"ret", "obj"}}), Sink("out"),
                N("c", "catch", {{"err"}}), Sink("err")});
  const std::string url = server.Url("/ok");
  h.runtime.DeliverTo("r", {{"url", url}, {"method", "GET /admin HTTP/1.1\r\nX: y\r\n\r\nGET"}});
  h.runtime.DeliverTo("r", {{"url", url}, {"method", "GET"}, {"headers", {{"X-Custom", "a\r\nX-Injected: 1"}}}});
  h.runtime.DeliverTo("r", {{"url", url}, {"method", "GET"}, {"headers", {{"Bad Name", "v"}}}});
  h.runtime.DeliverTo("r", {{"url", server.Url("/a b")}, {"method", "GET"}});
  ASSERT_TRUE(h.RunUntil([&] { return h.Seen("err").size() == 4; }));
  for (const auto& e : h.Seen("err"))
    EXPECT_NE(e["error"]["message"].get<std::string>().find("not sent"), std::string::npos) << e.dump();
  // A clean request after them still goes, with its ordinary header.
  h.runtime.DeliverTo("r", {{"url", url}, {"method", "GET"}, {"headers", {{"X-Custom", "fine value"}}}});
  ASSERT_TRUE(h.RunUntil([&] { return h.Seen("out").size() == 1; }));
  EXPECT_EQ(h.Seen("out")[0]["payload"]["header"], "fine value");
  EXPECT_EQ(h.Seen("out")[0]["payload"]["target"], "/ok");
}

}  // namespace
}  // namespace ew::flows::testing
