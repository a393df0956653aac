// GPIO event streams end to end through a conductor in-process: real sockets on 127.0.0.1, a
// board enrolled over REST whose WAMP session (JSON, WAMP-CRA) the test plays, and a client
// reading GET /v1/boards/{id}/gpio/events as Server-Sent Events. Covers what only the whole
// conductor shows: the router's publication hook feeding streams and history, unwatch when the
// client hangs up, the end message when the board goes, and unwatch when the conductor stops.
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloud-conductor/conductor.hpp"
#include "common/ids/ids.hpp"
#include "common/wamp/codec.hpp"

namespace ew::conductor {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kPassword[] = "a long admin password";
constexpr auto kDeadline = 10s;

// Bytes or frames arriving on a client io thread, waited for with a deadline.
template <typename T>
class Inbox {
 public:
  void Push(T item) {
    std::lock_guard lock(mu_);
    items_.push_back(std::move(item));
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // The oldest item; nullopt after kDeadline or once closed and empty.
  std::optional<T> Pop() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kDeadline, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  bool closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
};

// The board's side of its reverse WAMP session, as the agent would hold it.
class BoardSession {
 public:
  explicit BoardSession(net::io_context& io) : ws_(io) {}

  void Connect(uint16_t port) {
    ws_.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, "wamp.2.json"); }));
    ws_.handshake("127.0.0.1", "/ws");
    ws_.text(true);
    Read();
  }

  void Send(const wamp::Message& message) {
    net::post(ws_.get_executor(), [this, frame = wamp::Encode(wamp::Serializer::kJson, message)]() mutable {
      outbox_.push_back(std::move(frame));
      if (outbox_.size() == 1) Write();
    });
  }

  template <typename T>
  T Next() {
    auto frame = inbox_.Pop();
    if (!frame) throw std::runtime_error("the board got nothing");
    auto message = wamp::Decode(wamp::Serializer::kJson, *frame);
    if (!message) throw std::runtime_error("undecodable frame " + *frame);
    if (!std::holds_alternative<T>(*message)) throw std::runtime_error("the board got another message: " + *frame);
    return std::get<T>(std::move(*message));
  }

  // The connection drops, as when the board loses power.
  void Drop() {
    net::post(ws_.get_executor(), [this] {
      beast::error_code ignored;
      ws_.next_layer().close(ignored);
    });
  }

 private:
  void Read() {
    ws_.async_read(buffer_, [this](beast::error_code ec, size_t) {
      if (ec) return inbox_.Close();
      inbox_.Push(beast::buffers_to_string(buffer_.data()));
      buffer_.consume(buffer_.size());
      Read();
    });
  }
  void Write() {
    ws_.async_write(net::buffer(outbox_.front()), [this](beast::error_code ec, size_t) {
      outbox_.pop_front();
      if (!ec && !outbox_.empty()) Write();
    });
  }

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> outbox_;
  Inbox<std::string> inbox_;
};

// A client of GET .../gpio/events: everything the conductor sends, as raw bytes.
class EventClient {
 public:
  explicit EventClient(net::io_context& io) : socket_(io) {}

  void Open(uint16_t port, const std::string& target, const std::string& token) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    auto req = std::make_shared<http::request<http::empty_body>>(http::verb::get, target, 11);
    req->set(http::field::host, "127.0.0.1");
    req->set("X-Auth-Token", token);
    req->set(http::field::accept, "text/event-stream");
    req->keep_alive(false);
    http::write(socket_, *req);
    Read();
  }

  // Waits until what arrived holds `text`; false after kDeadline or when the stream ended first.
  bool WaitFor(const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (received_.find(text) == std::string::npos) {
      auto piece = inbox_.Pop();
      if (!piece || std::chrono::steady_clock::now() > deadline) return false;
      received_ += *piece;
    }
    return true;
  }
  // Waits until the conductor closed the connection.
  bool WaitForEnd() {
    while (auto piece = inbox_.Pop()) received_ += *piece;
    return inbox_.closed();
  }
  void Close() {
    net::post(socket_.get_executor(), [this] {
      beast::error_code ignored;
      socket_.close(ignored);
    });
  }
  const std::string& received() const { return received_; }

 private:
  void Read() {
    socket_.async_read_some(net::buffer(data_), [this](beast::error_code ec, size_t n) {
      if (n) inbox_.Push(std::string(data_, n));
      if (ec) return inbox_.Close();
      Read();
    });
  }

  tcp::socket socket_;
  char data_[4096];
  Inbox<std::string> inbox_;
  std::string received_;
};

class GpioStreamTest : public ::testing::Test {
 protected:
  GpioStreamTest() {
    password_file_ = std::filesystem::temp_directory_path() / ("ew-gpio-stream-" + std::to_string(::getpid()));
    std::ofstream(password_file_) << kPassword;
    config::ConductorConfig config;
    config.listen_address = "127.0.0.1";
    config.port = 0;
    config.store_path = ":memory:";
    config.bootstrap_password_file = password_file_.string();
    config.functions_runtime = "none";
    conductor_ = std::make_unique<Conductor>(config, announce_);
    auto port = conductor_->Start();
    if (!port) throw std::runtime_error(port.error().message);
    port_ = *port;
    conductor_thread_ = std::thread([this] { conductor_->Run(); });

    token_ = Rest("POST", "/v1/auth/tokens", {{"username", "admin"}, {"password", kPassword}}).second.value("token", "");
    auto created = Rest("POST", "/v1/boards", {{"name", "pi-1"}}, token_).second;
    board_ = created["board"].value("id", "");
    enrolment_ = Rest("POST", "/v1/enrol", {{"code", created.value("enrolmentCode", "")}}).second;
    client_thread_ = std::thread([this] {
      auto work = net::make_work_guard(client_io_);
      client_io_.run();
    });
  }

  ~GpioStreamTest() override {
    StopConductor();
    // The clients' handlers run on client_io_: stop it before the clients go.
    client_io_.stop();
    client_thread_.join();
    std::filesystem::remove(password_file_);
  }

  EventClient& NewClient() {
    clients_.push_back(std::make_unique<EventClient>(client_io_));
    return *clients_.back();
  }

  void StopConductor() {
    if (!conductor_thread_.joinable()) return;
    conductor_->Stop();
    conductor_thread_.join();
  }

  // One REST request on its own connection: {status, JSON body}.
  std::pair<int, json> Rest(const std::string& method, const std::string& target, const json& body = nullptr,
                            const std::string& token = "") {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!token.empty()) req.set("X-Auth-Token", token);
    if (!body.is_null()) req.body() = body.dump();
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return {static_cast<int>(res.result_int()), json::parse(res.body(), nullptr, false)};
  }

  // Joins as the enrolled board and serves gpio.watch and gpio.unwatch.
  BoardSession& JoinBoard() {
    boards_.push_back(std::make_unique<BoardSession>(client_io_));
    BoardSession* board = boards_.back().get();
    board->Connect(port_);
    wamp::Hello hello;
    hello.realm = "edgewire";
    hello.details = {{"authmethods", {"wampcra"}}, {"authid", board_}, {"roles", {{"callee", json::object()}}}};
    board->Send(hello);
    auto challenge = board->Next<wamp::Challenge>();
    const std::string key = ids::WampCraDeriveKey(enrolment_.value("secret", ""), challenge.extra.value("salt", ""),
                                                  challenge.extra.value("iterations", 0),
                                                  challenge.extra.value("keylen", 0));
    wamp::Authenticate authenticate;
    authenticate.signature = ids::WampCraSign(key, challenge.extra.value("challenge", ""));
    board->Send(authenticate);
    board->Next<wamp::Welcome>();
    wamp::Id request = 1;
    for (const char* procedure : {"gpio.watch", "gpio.unwatch"}) {
      wamp::Register reg;
      reg.request = request++;
      reg.procedure = "ew.board." + board_ + "." + procedure;
      reg.options = {{"disclose_caller", true}};
      board->Send(reg);
      board->Next<wamp::Registered>();
    }
    wamp::Call ready;  // as the agent: online (and watchable) from here on
    ready.request = request;
    ready.procedure = "ew.conductor.board.ready";
    board->Send(ready);
    board->Next<wamp::Result>();
    return *board;
  }

  // The board answers the next invocation, which must be `procedure`; returns its kwargs.
  json Answer(BoardSession& board, const std::string& procedure, const json& kwargs) {
    auto invocation = board.Next<wamp::Invocation>();
    wamp::Yield yield;
    yield.request = invocation.request;
    yield.payload.kwargs = kwargs;
    board.Send(yield);
    EXPECT_EQ(invocation.details.value("caller_authid", ""), "conductor") << procedure;
    return invocation.payload.kwargs;
  }

  void PublishEdge(BoardSession& board, const std::string& edge, int seq) {
    wamp::Publish publish;
    publish.request = 100 + seq;
    publish.topic = "ew.board." + board_ + ".gpio.event";
    publish.options = {{"acknowledge", true}};
    publish.payload.kwargs = {{"chip", "sim0"}, {"line", "GPIO4"},         {"offset", 4}, {"edge", edge},
                              {"value", edge == "rising" ? 1 : 0}, {"timestampNs", 1000 * seq}, {"seq", seq}};
    board.Send(publish);
    board.Next<wamp::Published>();
  }

  std::string EventsPath(const std::string& query) { return "/v1/boards/" + board_ + "/gpio/events?" + query; }

  std::filesystem::path password_file_;
  std::ostringstream announce_;
  std::unique_ptr<Conductor> conductor_;
  std::thread conductor_thread_;
  uint16_t port_ = 0;
  std::string token_;
  std::string board_;
  json enrolment_;
  net::io_context client_io_;
  std::thread client_thread_;
  std::vector<std::unique_ptr<BoardSession>> boards_;  // after client_io_: destroyed before it
  std::vector<std::unique_ptr<EventClient>> clients_;
};

const json kWatched = {{"watch", "w1"}, {"chip", "sim0"}, {"line", "GPIO4"}, {"offset", 4}, {"value", 0}};

TEST_F(GpioStreamTest, EventsStreamWhileTheClientStaysAndTheWatchGoesWithIt) {
  auto& board = JoinBoard();
  auto& client = NewClient();
  client.Open(port_, EventsPath("line=GPIO4&edge=rising"), token_);
  EXPECT_EQ(Answer(board, "gpio.watch", kWatched), json({{"line", "GPIO4"}, {"edge", "rising"}, {"debounceMs", 0}}));
  ASSERT_TRUE(client.WaitFor("\r\n\r\n")) << client.received();
  EXPECT_EQ(client.received().rfind("HTTP/1.1 200 OK", 0), 0u) << client.received();
  EXPECT_NE(client.received().find("Content-Type: text/event-stream"), std::string::npos);

  PublishEdge(board, "rising", 1);
  PublishEdge(board, "falling", 2);
  PublishEdge(board, "rising", 3);
  ASSERT_TRUE(client.WaitFor("\"seq\":3")) << client.received();
  EXPECT_NE(client.received().find("data: {\"chip\":\"sim0\",\"edge\":\"rising\",\"line\":\"GPIO4\",\"offset\":4,"
                                   "\"seq\":1,\"timestampNs\":1000,\"value\":1}\n\n"),
            std::string::npos)
      << client.received();
  EXPECT_EQ(client.received().find("\"seq\":2"), std::string::npos) << "a falling edge was not asked for";

  // Every edge is history, streamed or not (stored off the router's thread: poll).
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  json history;
  do {
    history = Rest("GET", "/v1/boards/" + board_ + "/gpio/GPIO4/history", nullptr, token_).second;
  } while (history["readings"].size() < 3 && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(history["readings"].size(), 3u) << history.dump();
  EXPECT_EQ(history["readings"][1]["edge"], "falling");

  client.Close();
  EXPECT_EQ(Answer(board, "gpio.unwatch", json::object()), json({{"watch", "w1"}}));
}

TEST_F(GpioStreamTest, TheStreamEndsWhenTheBoardGoesOffline) {
  auto& board = JoinBoard();
  auto& client = NewClient();
  client.Open(port_, EventsPath("line=GPIO4"), token_);
  Answer(board, "gpio.watch", kWatched);
  ASSERT_TRUE(client.WaitFor("\r\n\r\n"));
  PublishEdge(board, "falling", 1);
  ASSERT_TRUE(client.WaitFor("\"seq\":1"));
  board.Drop();
  ASSERT_TRUE(client.WaitFor("event: end\ndata: {\"reason\":\"board " + board_ + " went offline\"}\n\n"))
      << client.received();
  EXPECT_TRUE(client.WaitForEnd());
}

TEST_F(GpioStreamTest, ErrorsBeforeTheStreamAreJsonAnswers) {
  auto& offline = NewClient();
  offline.Open(port_, EventsPath("line=GPIO4"), token_);
  ASSERT_TRUE(offline.WaitForEnd());
  EXPECT_EQ(offline.received().rfind("HTTP/1.1 503", 0), 0u) << offline.received();
  EXPECT_NE(offline.received().find("\"code\":\"unavailable\""), std::string::npos);

  auto& board = JoinBoard();
  auto& busy = NewClient();
  busy.Open(port_, EventsPath("line=GPIO17"), token_);
  auto invocation = board.Next<wamp::Invocation>();
  wamp::ErrorMessage error;
  error.request_type = wamp::MessageType::kInvocation;
  error.request = invocation.request;
  error.error = std::string(WampErrorUri(ErrorCode::kConflict));
  error.payload.args = json::array({"line GPIO17 is busy: held by fn:blink:inv-1"});
  board.Send(error);
  ASSERT_TRUE(busy.WaitFor("busy: held by fn:blink:inv-1")) << busy.received();
  EXPECT_EQ(busy.received().rfind("HTTP/1.1 409", 0), 0u) << busy.received();
}

TEST_F(GpioStreamTest, StoppingTheConductorEndsStreamsAndUnwatches) {
  auto& board = JoinBoard();
  auto& client = NewClient();
  client.Open(port_, EventsPath("line=GPIO4"), token_);
  Answer(board, "gpio.watch", kWatched);
  ASSERT_TRUE(client.WaitFor("\r\n\r\n"));
  conductor_->Stop();
  EXPECT_EQ(Answer(board, "gpio.unwatch", json::object()), json({{"watch", "w1"}}));
  EXPECT_TRUE(client.WaitFor("event: end\ndata: {\"reason\":\"the conductor is stopping\"}")) << client.received();
  conductor_thread_.join();
}

}  // namespace
}  // namespace ew::conductor
