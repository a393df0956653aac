// The conductor's port over real sockets on 127.0.0.1: HTTP keep-alive and limits, WebSocket
// subprotocol negotiation, and malformed WAMP frames that must end only their own session.
#include "cloud-conductor/server/server.hpp"

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>

#include "cloud-conductor/router/router.hpp"

namespace ew::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

class EchoHandler final : public HttpHandler {
 public:
  void Handle(HttpRequest request, Respond respond) override {
    ++requests;
    HttpResponse response;
    response.body = request.method + " " + request.path + " " + request.body;
    // Answer from another thread, as REST does from the blocking pool.
    std::thread([respond, response]() mutable { respond(std::move(response)); }).detach();
  }
  std::atomic<int> requests{0};
};

class NullDirectory final : public router::Directory {
 public:
  void LookupBoard(const std::string&, std::function<void(Result<router::BoardIdentity>)> done) override {
    done(NotFound("none"));
  }
  void VerifyToken(const std::string& token, std::function<void(Result<auth::Principal>)> done) override {
    if (token == "good") return done(auth::Principal{"u", "admin", "", "admin"});
    done(Unauthenticated("bad"));
  }
  void BoardProject(const std::string&, std::function<void(Result<std::string>)> done) override {
    done(NotFound("none"));
  }
  void BoardSeen(const std::string&) override {}
};

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : router_(io_.get_executor(), router::RouterConfig{}, directory_, metrics_) {
    ServerOptions options;
    options.max_http_body_bytes = 1024;
    options.max_message_bytes = 4096;
    server_ = std::make_unique<Server>(io_, options, handler_, [this](std::shared_ptr<router::Transport> t) {
      return router_.Attach(std::move(t));
    });
    port_ = *server_->Start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ServerTest() override {
    io_.stop();
    thread_.join();
  }

  tcp::socket Connect() {
    tcp::socket socket(client_io_);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    return socket;
  }

  // Opens a WAMP WebSocket offering `protocols`; returns the stream after the handshake.
  std::unique_ptr<websocket::stream<tcp::socket>> OpenWs(const std::string& protocols,
                                                          std::string* chosen = nullptr) {
    auto ws = std::make_unique<websocket::stream<tcp::socket>>(Connect());
    websocket::response_type res;
    ws->set_option(websocket::stream_base::decorator(
        [protocols](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, protocols); }));
    ws->handshake(res, "127.0.0.1", "/ws");
    if (chosen) *chosen = std::string(res[http::field::sec_websocket_protocol]);
    return ws;
  }

  // Joins as admin over JSON and returns the WELCOME text.
  std::string JoinJson(websocket::stream<tcp::socket>& ws) {
    ws.text(true);
    ws.write(net::buffer(std::string(R"([1,"edgewire",{"authmethods":["ticket"],"roles":{"caller":{}}}])")));
    EXPECT_EQ(Read(ws).substr(0, 3), "[4,");
    ws.write(net::buffer(std::string(R"([5,"good",{}])")));
    return Read(ws);
  }

  static std::string Read(websocket::stream<tcp::socket>& ws) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }

  net::io_context io_;
  net::io_context client_io_;
  NullDirectory directory_;
  metrics::Registry metrics_;
  router::Router router_;
  EchoHandler handler_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(ServerTest, HttpKeepAliveServesManyRequestsOnOneConnection) {
  auto socket = Connect();
  beast::flat_buffer buffer;
  for (int i = 0; i < 5; ++i) {
    http::request<http::string_body> req{http::verb::post, "/v1/things%20x?a=1", 11};
    req.set(http::field::host, "127.0.0.1");
    req.body() = "n" + std::to_string(i);
    req.prepare_payload();
    http::write(socket, req);
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "POST /v1/things x n" + std::to_string(i));
    EXPECT_TRUE(res.keep_alive());
  }
  EXPECT_EQ(handler_.requests.load(), 5);
}

TEST_F(ServerTest, OversizedBodyGets413AndNoHandlerCall) {
  auto socket = Connect();
  http::request<http::string_body> req{http::verb::post, "/v1/x", 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = std::string(4096, 'x');
  req.prepare_payload();
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_NE(res.body().find("\"error\""), std::string::npos);
  EXPECT_EQ(handler_.requests.load(), 0);
}

TEST_F(ServerTest, WebSocketNegotiatesTheClientsFirstSupportedSubprotocol) {
  std::string chosen;
  OpenWs("wamp.2.cbor, wamp.2.msgpack, wamp.2.json", &chosen);
  EXPECT_EQ(chosen, "wamp.2.msgpack");
  OpenWs("wamp.2.json", &chosen);
  EXPECT_EQ(chosen, "wamp.2.json");
  EXPECT_THROW(OpenWs("wamp.2.cbor"), beast::system_error);
}

TEST_F(ServerTest, MalformedFramesEndOnlyTheirOwnSession) {
  auto good = OpenWs("wamp.2.json");
  EXPECT_EQ(JoinJson(*good).substr(0, 3), "[2,");
  const std::vector<std::pair<bool, std::string>> bad_frames = {
      {true, std::string("\x96\x30\x01\x80\xa3", 5)},              // truncated msgpack CALL
      {true, std::string("\xdd\xff\xff\xff\xff", 5)},              // array32 claiming 4 billion items
      {true, std::string("\xdb\xff\xff\xff\xff" "abc", 8)},        // str32 claiming 4 GB
      {false, "[48, \"not an id\", {}, \"x\"]"},                    // wrong type
      {false, "[4242, 1]"},                                          // unknown message code
      {false, std::string(200000, '[')},                             // deep nesting (over the size limit too)
  };
  for (const auto& [binary, frame] : bad_frames) {
    auto ws = OpenWs(binary ? "wamp.2.msgpack" : "wamp.2.json");
    ws->binary(binary);
    if (!binary) {
      JoinJson(*ws);
    } else {
      wamp::Hello hello;
      hello.realm = "edgewire";
      hello.details = {{"authmethods", {"ticket"}}};
      ws->write(net::buffer(wamp::Encode(wamp::Serializer::kMsgpack, hello)));
      Read(*ws);
      wamp::Authenticate authenticate;
      authenticate.signature = "good";
      ws->write(net::buffer(wamp::Encode(wamp::Serializer::kMsgpack, authenticate)));
      Read(*ws);  // WELCOME
    }
    boost::system::error_code ec;
    ws->write(net::buffer(frame), ec);
    // The router answers ABORT (or the server closes for size) and the connection ends.
    beast::flat_buffer buffer;
    for (int i = 0; i < 4 && !ec; ++i) ws->read(buffer, ec);
    EXPECT_TRUE(ec) << "session survived a malformed frame";
  }
  // The well-behaved session is untouched.
  good->write(net::buffer(std::string(R"([32,1,{},"com.example.topic"])")));
  EXPECT_EQ(Read(*good).substr(0, 4), "[33,");
}

TEST_F(ServerTest, APeerThatStopsReadingIsDisconnectedInsteadOfGrowingMemory) {
  // A subscriber that never reads while events pour in: past max_queued_bytes it is dropped.
  auto reader = OpenWs("wamp.2.json");
  JoinJson(*reader);
  reader->write(net::buffer(std::string(R"([32,1,{},"com.example.flood"])")));
  EXPECT_EQ(Read(*reader).substr(0, 4), "[33,");
  auto publisher = OpenWs("wamp.2.json");
  JoinJson(*publisher);
  std::string payload(3000, 'x');
  std::string publish = R"([16,1,{},"com.example.flood",[")" + payload + R"("]])";
  boost::system::error_code ec;
  // Far more than the socket buffers and the 8 MiB queue limit can hold.
  for (int i = 0; i < 20000 && !ec; ++i) publisher->write(net::buffer(publish), ec);
  EXPECT_FALSE(ec) << "the publisher must not be disconnected";
  // The reader's connection is gone once it reads past what the kernel had buffered.
  beast::flat_buffer buffer;
  for (int i = 0; i < 100000 && !ec; ++i) {
    reader->read(buffer, ec);
    buffer.consume(buffer.size());
  }
  EXPECT_TRUE(ec);
  // The publisher still works.
  publisher->write(net::buffer(std::string(R"([32,2,{},"com.example.other"])")));
  EXPECT_EQ(Read(*publisher).substr(0, 4), "[33,");
}

TEST_F(ServerTest, UnknownWebSocketPathIs404) {
  auto ws = std::make_unique<websocket::stream<tcp::socket>>(Connect());
  ws->set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, "wamp.2.json"); }));
  EXPECT_THROW(ws->handshake("127.0.0.1", "/nope"), beast::system_error);
}

}  // namespace
}  // namespace ew::server
