// The conductor's port over real sockets on 127.0.0.1: HTTP keep-alive and limits, WebSocket
// subprotocol negotiation, and malformed WAMP frames that must end only their own session.
#include "cloud-conductor/server/server.hpp"

#include <mutex>
#include <optional>
#include <future>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloud-conductor/router/router.hpp"
#include "tests/support/ticket_directory.hpp"
#include "tests/support/eventually.hpp"

namespace ew::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

// A streamed body the test drives: records the writer it gets and why the stream closed.
class TestStream final : public StreamHandler {
 public:
  void OnOpen(std::shared_ptr<StreamWriter> writer) override {
    std::lock_guard lock(mu_);
    writer_ = std::move(writer);
    opened_ = true;
  }
  void OnClose(const std::string& reason) override {
    std::lock_guard lock(mu_);
    ++closes_;
    reason_ = reason;
    writer_.reset();
  }
  std::shared_ptr<StreamWriter> writer() {
    std::lock_guard lock(mu_);
    return writer_;
  }
  bool opened() {
    std::lock_guard lock(mu_);
    return opened_;
  }
  int closes() {
    std::lock_guard lock(mu_);
    return closes_;
  }
  std::string reason() {
    std::lock_guard lock(mu_);
    return reason_;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<StreamWriter> writer_;
  bool opened_ = false;
  int closes_ = 0;
  std::string reason_;
};

class EchoHandler final : public HttpHandler {
 public:
  void Handle(HttpRequest request, Respond respond) override {
    ++requests;
    HttpResponse response;
    if (request.path == "/stream") {
      response.content_type = "text/event-stream";
      response.stream = stream;
      response.stream_options = stream_options;
    }
    response.body = request.method + " " + request.path + " " + request.body;
    // Answer from another thread, as REST does from the blocking pool.
    std::thread([respond, response]() mutable { respond(std::move(response)); }).detach();
  }
  std::atomic<int> requests{0};
  std::shared_ptr<TestStream> stream = std::make_shared<TestStream>();
  StreamOptions stream_options;
};

using ::ew::test::Eventually;

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : router_(io_.get_executor(), router::RouterConfig{}, directory_, metrics_) {
    ServerOptions options;
    options.max_http_body_bytes = 1024;
    options.max_message_bytes = 4096;
    options.handshake_timeout = std::chrono::seconds(1);
    options.heartbeat_timeout = std::chrono::seconds(2);
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

  // Reads from `socket` into `received` until it holds `text` (or, for "", until the peer
  // closed); false after 10 s.
  bool ReadUntil(tcp::socket& socket, std::string& received, const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (text.empty() || received.find(text) == std::string::npos) {
      const auto now = std::chrono::steady_clock::now();
      if (now > deadline) return false;
      char data[4096];
      bool done = false;
      boost::system::error_code ec;
      size_t n = 0;
      socket.async_read_some(net::buffer(data), [&](boost::system::error_code e, size_t k) {
        ec = e;
        n = k;
        done = true;
      });
      client_io_.restart();
      client_io_.run_for(deadline - now);
      if (!done) {
        socket.cancel();
        client_io_.restart();
        client_io_.run();
        return false;
      }
      received.append(data, n);
      if (ec) return text.empty() && ec == net::error::eof;
    }
    return true;
  }

  // Sends GET /stream and reads the answer's head.
  tcp::socket OpenStream(std::string& received, int version = 11) {
    auto socket = Connect();
    http::request<http::empty_body> req{http::verb::get, "/stream", static_cast<unsigned>(version)};
    req.set(http::field::host, "127.0.0.1");
    http::write(socket, req);
    EXPECT_TRUE(ReadUntil(socket, received, "\r\n\r\n"));
    EXPECT_TRUE(Eventually([&] { return handler_.stream->opened(); }));
    return socket;
  }

  static std::string Read(websocket::stream<tcp::socket>& ws) {
    beast::flat_buffer buffer;
    ws.read(buffer);
    return beast::buffers_to_string(buffer.data());
  }

  net::io_context io_;
  net::io_context client_io_;
  ew::testing::TicketDirectory directory_;
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

TEST_F(ServerTest, EndSessionsEndsEveryOpenSessionAtOnce) {
  // The router's session and the connection hold each other; Stop must end that itself, in the
  // same turn, because after it the io_context may never run the reads' completions (at exit
  // that cycle leaked every open session).
  auto a = OpenWs("wamp.2.json");
  auto b = OpenWs("wamp.2.json");
  ASSERT_EQ(JoinJson(*a).substr(0, 3), "[2,");
  ASSERT_EQ(JoinJson(*b).substr(0, 3), "[2,");
  std::promise<std::pair<size_t, size_t>> counts;
  net::post(io_, [&] {
    const size_t before = router_.SessionCount();
    server_->Stop();
    server_->EndSessions();
    counts.set_value({before, router_.SessionCount()});
  });
  auto [before, after] = counts.get_future().get();
  EXPECT_EQ(before, 2u);
  EXPECT_EQ(after, 0u);
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

TEST_F(ServerTest, AStreamedResponseSendsChunksUntilTheHandlerEndsIt) {
  std::string received;
  auto socket = OpenStream(received);
  EXPECT_NE(received.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_NE(received.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(received.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(received.find("Connection: close"), std::string::npos);
  EXPECT_EQ(received.find("Content-Length"), std::string::npos);
  auto writer = handler_.stream->writer();
  ASSERT_TRUE(writer);
  // Written from another thread, as the router's strand does.
  std::thread([writer] {
    EXPECT_TRUE(writer->Write("data: 1\n\n"));
    EXPECT_TRUE(writer->Write("data: 2\n\n"));
  }).join();
  EXPECT_TRUE(ReadUntil(socket, received, "data: 2\n\n"));
  EXPECT_NE(received.find("data: 1\n\n"), std::string::npos);
  EXPECT_EQ(handler_.stream->closes(), 0);
  writer->End();
  EXPECT_TRUE(ReadUntil(socket, received, ""));
  EXPECT_EQ(received.substr(received.size() - 5), "0\r\n\r\n") << "the last chunk ends the body";
  EXPECT_TRUE(Eventually([&] { return handler_.stream->closes() == 1; }));
  EXPECT_EQ(handler_.stream->reason(), "ended");
  EXPECT_FALSE(writer->Write("data: late\n\n"));
}

TEST_F(ServerTest, AClientThatHangsUpClosesTheStream) {
  std::string received;
  auto socket = OpenStream(received);
  auto writer = handler_.stream->writer();
  socket.close();
  ASSERT_TRUE(Eventually([&] { return handler_.stream->closes() == 1; }));
  EXPECT_EQ(handler_.stream->reason(), "the client closed the stream");
  EXPECT_TRUE(Eventually([&] { return !writer->Write("data: x\n\n"); }));
  EXPECT_EQ(handler_.stream->closes(), 1) << "exactly once";
}

TEST_F(ServerTest, AClientThatFallsBehindIsDroppedNotBufferedFor) {
  handler_.stream_options.max_backlog = 8;
  std::string received;
  auto socket = OpenStream(received);  // and never read again
  auto writer = handler_.stream->writer();
  const std::string chunk(64 * 1024, 'x');
  int written = 0;
  while (written < 100'000 && writer->Write(chunk)) ++written;
  EXPECT_LT(written, 100'000) << "the backlog never filled";
  ASSERT_TRUE(Eventually([&] { return handler_.stream->closes() == 1; }));
  EXPECT_NE(handler_.stream->reason().find("fell more than 8 chunks behind"), std::string::npos)
      << handler_.stream->reason();
}

TEST_F(ServerTest, AClientThatKeepsUpIsNeverDropped) {
  handler_.stream_options.max_backlog = 8;
  std::string received;
  auto socket = OpenStream(received);
  auto writer = handler_.stream->writer();
  // 400 chunks through a backlog of 8: the backlog counts only what is not sent yet.
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(writer->Write("data: " + std::to_string(round * 4 + i) + "\n\n"));
    ASSERT_TRUE(ReadUntil(socket, received, "data: " + std::to_string(round * 4 + 3) + "\n\n")) << round;
  }
  EXPECT_EQ(handler_.stream->closes(), 0);
}

TEST_F(ServerTest, AnIdleStreamGetsTheIdleChunk) {
  handler_.stream_options.idle_interval = std::chrono::milliseconds(20);
  handler_.stream_options.idle_chunk = ": keepalive\n\n";
  std::string received;
  auto socket = OpenStream(received);
  ASSERT_TRUE(ReadUntil(socket, received, ": keepalive\n\n"));
  received.clear();
  EXPECT_TRUE(ReadUntil(socket, received, ": keepalive\n\n")) << "and again while it stays idle";
}

TEST_F(ServerTest, AnHttp10StreamEndsWithTheConnection) {
  std::string received;
  auto socket = OpenStream(received, 10);
  EXPECT_EQ(received.find("chunked"), std::string::npos);
  auto writer = handler_.stream->writer();
  writer->Write("data: 1\n\n");
  writer->End();
  EXPECT_TRUE(ReadUntil(socket, received, ""));
  EXPECT_EQ(received.substr(received.size() - 9), "data: 1\n\n");
  EXPECT_TRUE(Eventually([&] { return handler_.stream->closes() == 1; }));
}

TEST_F(ServerTest, UnknownWebSocketPathIs404) {
  auto ws = std::make_unique<websocket::stream<tcp::socket>>(Connect());
  ws->set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, "wamp.2.json"); }));
  EXPECT_THROW(ws->handshake("127.0.0.1", "/nope"), beast::system_error);
}

// ---- session teardown under every ordering of close frames, TCP shutdown and silence ----
// A raw socket speaks WebSocket by hand so that it can do what well-behaved libraries never do:
// answer a close frame and keep TCP open, never answer it, or stop in the middle of a frame.

class RawWs {
 public:
  explicit RawWs(tcp::socket socket) : socket_(std::move(socket)) {
    const std::string upgrade =
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n";
    net::write(socket_, net::buffer(upgrade));
    while (in_.find("\r\n\r\n") == std::string::npos) ReadSome();
    EXPECT_EQ(in_.substr(0, 12), "HTTP/1.1 101") << in_;
    in_.erase(0, in_.find("\r\n\r\n") + 4);
  }

  // A masked frame, as a client must send: 0x1 text, 0x8 close.
  void Send(int opcode, const std::string& payload) { net::write(socket_, net::buffer(Frame(opcode, payload))); }
  static std::string Frame(int opcode, const std::string& payload) {
    std::string f;
    f += static_cast<char>(0x80 | opcode);
    if (payload.size() < 126) {
      f += static_cast<char>(0x80 | payload.size());
    } else {
      f += static_cast<char>(0x80 | 126);
      f += static_cast<char>(payload.size() >> 8);
      f += static_cast<char>(payload.size() & 0xff);
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    f.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
    return f;
  }

  // Reads frames until one with `opcode`; returns its payload, or nullopt when the server ended
  // the connection first.
  std::optional<std::string> ReadUntilOpcode(int opcode) {
    for (;;) {
      while (in_.size() >= 2) {
        size_t len = static_cast<unsigned char>(in_[1]) & 0x7f;
        size_t head = 2;
        if (len == 126) {
          if (in_.size() < 4) break;
          len = (static_cast<unsigned char>(in_[2]) << 8) | static_cast<unsigned char>(in_[3]);
          head = 4;
        }
        if (in_.size() < head + len) break;
        const int op = in_[0] & 0x0f;
        std::string payload = in_.substr(head, len);
        in_.erase(0, head + len);
        if (op == opcode) return payload;
      }
      if (!ReadSome()) return std::nullopt;
    }
  }

  // True when the server closes the TCP connection within `within`.
  bool ServerHangsUp(std::chrono::milliseconds within) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
      boost::system::error_code ec;
      socket_.non_blocking(true);
      char data[4096];
      size_t n = socket_.read_some(net::buffer(data), ec);
      if (ec == net::error::would_block) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      if (ec) return true;
      in_.append(data, n);
    }
  }

  tcp::socket& socket() { return socket_; }

 private:
  bool ReadSome() {
    char data[4096];
    boost::system::error_code ec;
    size_t n = socket_.read_some(net::buffer(data), ec);
    if (ec) return false;
    in_.append(data, n);
    return true;
  }

  tcp::socket socket_;
  std::string in_;
};

TEST_F(ServerTest, BurstsOfFramesArriveWholeAndInOrderAmongPongs) {
  // Frames queued while a write is in flight go out together in one gather write (framed by
  // WsSession): small ones copied behind their headers, larger ones (over 2 KiB, 16-bit lengths)
  // written in place. The subscriber's pings make the server's pongs cross those writes.
  auto reader = OpenWs("wamp.2.json");
  JoinJson(*reader);
  int pongs = 0;
  reader->control_callback([&pongs](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::pong) ++pongs;
  });
  reader->write(net::buffer(std::string(R"([32,1,{},"com.example.burst"])")));
  EXPECT_EQ(Read(*reader).substr(0, 4), "[33,");
  auto publisher = OpenWs("wamp.2.json");
  JoinJson(*publisher);
  constexpr int kEvents = 600;
  auto body = [](int i) { return std::string(static_cast<size_t>((i * 397) % 3900), static_cast<char>('a' + i % 26)); };
  std::string burst;  // many PUBLISHes in one TCP write: the router queues the EVENTs at once
  for (int i = 0; i < kEvents; ++i) {
    std::string publish = R"([16,)" + std::to_string(i + 1) + R"(,{},"com.example.burst",[)" + std::to_string(i) +
                          R"(,")" + body(i) + R"("]])";
    burst += RawWs::Frame(1, publish);
  }
  net::write(beast::get_lowest_layer(*publisher), net::buffer(burst));
  for (int i = 0; i < kEvents; ++i) {
    if (i % 50 == 0) reader->ping({});
    const std::string event = Read(*reader);
    auto parsed = nlohmann::json::parse(event, nullptr, false);
    ASSERT_TRUE(parsed.is_array() && parsed.size() == 5) << event.substr(0, 80);
    ASSERT_EQ(parsed[0], 36);
    ASSERT_EQ(parsed[4][0], i) << "events out of order";
    ASSERT_EQ(parsed[4][1], body(i));
  }
  EXPECT_GT(pongs, 0);
}

class TeardownTest : public ServerTest {
 protected:
  // The conductor still serves HTTP and a new WAMP session after the peer's misbehaviour.
  void ExpectConductorServes() {
    auto socket = Connect();
    http::request<http::string_body> req{http::verb::get, "/alive", 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    auto ws = OpenWs("wamp.2.json");
    EXPECT_EQ(JoinJson(*ws).substr(0, 3), "[2,");
  }

  RawWs Welcomed() {
    RawWs ws(Connect());
    ws.Send(1, R"([1,"edgewire",{"authmethods":["ticket"],"roles":{"caller":{}}}])");
    EXPECT_TRUE(ws.ReadUntilOpcode(1));  // CHALLENGE
    ws.Send(1, R"([5,"good",{}])");
    auto welcome = ws.ReadUntilOpcode(1);
    EXPECT_TRUE(welcome && welcome->substr(0, 3) == "[2,");
    return ws;
  }

  // Longer than every deadline the fixture sets (handshake 1 s, heartbeat 2 s).
  static constexpr std::chrono::milliseconds kPastDeadlines{3500};
};

TEST_F(TeardownTest, Issue11_AbortedHelloAnsweredCloseThenTcpHeldOpen) {
  RawWs ws(Connect());
  ws.Send(1, R"([1,"no-such-realm",{"authmethods":["ticket"],"roles":{"caller":{}}}])");
  auto abort = ws.ReadUntilOpcode(1);
  ASSERT_TRUE(abort);
  EXPECT_EQ(abort->substr(0, 3), "[3,");
  ASSERT_TRUE(ws.ReadUntilOpcode(8)) << "the router closes after ABORT";
  ws.Send(8, std::string("\x03\xe8", 2));  // answer the close, then hold TCP open
  EXPECT_TRUE(ws.ServerHangsUp(kPastDeadlines));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ExpectConductorServes();
}

TEST_F(TeardownTest, Issue11_CloseFrameNeverAnswered) {
  RawWs ws(Connect());
  ws.Send(1, R"([1,"no-such-realm",{}])");
  ASSERT_TRUE(ws.ReadUntilOpcode(8));
  EXPECT_TRUE(ws.ServerHangsUp(kPastDeadlines));
  ExpectConductorServes();
}

TEST_F(TeardownTest, Issue11_GoodbyeThenTcpHeldOpen) {
  auto ws = Welcomed();
  ws.Send(1, R"([6,{},"wamp.close.normal"])");
  ASSERT_TRUE(ws.ReadUntilOpcode(8));
  ws.Send(8, std::string("\x03\xe8", 2));
  EXPECT_TRUE(ws.ServerHangsUp(kPastDeadlines));
  ExpectConductorServes();
}

TEST_F(TeardownTest, Issue11_ClientCloseThenTcpHeldOpen) {
  auto ws = Welcomed();
  ws.Send(8, std::string("\x03\xe8", 2));
  ASSERT_TRUE(ws.ReadUntilOpcode(8)) << "the server answers the close";
  EXPECT_TRUE(ws.ServerHangsUp(kPastDeadlines));
  ExpectConductorServes();
}

TEST_F(TeardownTest, Issue11_ProtocolViolationThenSilence) {
  auto ws = Welcomed();
  ws.Send(1, "[4242, 1]");
  ASSERT_TRUE(ws.ReadUntilOpcode(8));
  EXPECT_TRUE(ws.ServerHangsUp(kPastDeadlines));
  ExpectConductorServes();
}

TEST_F(TeardownTest, Issue11_DroppedMidFrameAndMidHandshake) {
  {
    auto ws = Welcomed();
    const std::string frame = RawWs::Frame(1, R"([32,1,{},"com.example.topic"])");
    net::write(ws.socket(), net::buffer(frame.substr(0, 5)));
    ws.socket().close();
  }
  {
    // An opening handshake that never completes is dropped at its deadline.
    auto socket = Connect();
    net::write(socket, net::buffer(std::string("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")));
    socket.close();
  }
  {
    auto ws = Welcomed();  // silent: no pongs, no frames, TCP open
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_TRUE(ws.ServerHangsUp(kPastDeadlines)) << "the heartbeat drops a silent peer";
  }
  ExpectConductorServes();
}

TEST_F(TeardownTest, AnIdlePeerThatAnswersPingsStays) {
  // Sends nothing after joining: a pending Beast read answers each ping with a pong by itself.
  auto ws = OpenWs("wamp.2.json");
  JoinJson(*ws);
  beast::flat_buffer buffer;
  bool done = false;
  boost::system::error_code ec;
  ws->async_read(buffer, [&](boost::system::error_code e, size_t) {
    ec = e;
    done = true;
  });
  client_io_.restart();
  client_io_.run_for(std::chrono::milliseconds(3 * 2000));  // three heartbeat timeouts
  EXPECT_FALSE(done) << "dropped although it answered every ping: " << ec.message();
  beast::get_lowest_layer(*ws).close();
  client_io_.restart();
  client_io_.run();
}

TEST_F(TeardownTest, AnActiveSessionOutlivesTheHeartbeat) {
  auto ws = OpenWs("wamp.2.json");
  JoinJson(*ws);
  const auto until = std::chrono::steady_clock::now() + kPastDeadlines;
  ws->text(true);
  int n = 0;
  while (std::chrono::steady_clock::now() < until) {
    ws->write(net::buffer(R"([32,)" + std::to_string(++n) + R"(,{},"com.example.t"])"));
    EXPECT_EQ(Read(*ws).substr(0, 4), "[33,");
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
}

}  // namespace
}  // namespace ew::server
