// /v1/boards/{id}/gpio...: lines, reads, writes, history and the event stream, in-process with a
// FakeBoardGateway board (gpio.* answered by a script, gpio.event publications and session ends
// played by the test) and a real BoardGpio over an in-memory GpioStore. The event stream is
// driven as the server would drive it: OnOpen with a writer that records chunks, then OnClose.
#include <boost/asio/io_context.hpp>

#include "cloud-conductor/gpio/board_gpio.hpp"
#include "cloud-conductor/rest/validation.hpp"
#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

namespace ew::rest {
namespace {

using nlohmann::json;
using conductor::gpio::BoardGpio;

// What the server would send to the client.
class RecordingWriter final : public server::StreamWriter {
 public:
  bool Write(std::string chunk) override {
    std::lock_guard lock(mu_);
    if (ended_) return false;
    chunks_.push_back(std::move(chunk));
    return true;
  }
  void End() override {
    std::lock_guard lock(mu_);
    ended_ = true;
  }
  std::vector<std::string> chunks() {
    std::lock_guard lock(mu_);
    return chunks_;
  }
  bool ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> chunks_;
  bool ended_ = false;
};

class GpioApiTest : public RestApiTest {
 protected:
  GpioApiTest() {
    auto store = conductor::gpio::GpioStore::Open(":memory:");
    if (!store) throw std::runtime_error(store.error().message);
    gpio_store_ = std::move(*store);
    recorder_ = std::make_unique<conductor::gpio::ReadingRecorder>(*gpio_store_, pool_, io_.get_executor(), clock_,
                                                                   metrics_, conductor::gpio::RecorderOptions{});
    gpio_ = std::make_unique<BoardGpio>(gateway_, *recorder_, *gpio_store_, clock_, metrics_);
    gpio_->Start();
    RestDeps deps{*store_, *auth_, gateway_, metrics_, pool_, config_, clock_};
    deps.gpio = gpio_.get();
    deps.revocations = &hub_;
    api_ = std::make_unique<RestApi>(deps);
    std::tie(board_, std::ignore) = CreateBoard("pi-1", alice_);
    std::tie(other_, std::ignore) = CreateBoard("pi-9", bob_);
    gateway_.SetOnline(board_);
    gateway_.SetScript(board_, [this](const std::string& procedure, const wamp::Payload& payload) {
      return Board(procedure, payload.kwargs);
    });
  }
  ~GpioApiTest() override {
    pool_.join();
    gpio_.reset();
    recorder_.reset();
  }

  // Lines GPIO0..GPIO27 on sim0; GPIO17 is held by a function.
  Result<wamp::Payload> Board(const std::string& procedure, const json& kwargs) {
    wamp::Payload out;
    if (procedure == "gpio.lines") {
      out.kwargs = {{"chips", json::array({{{"name", "sim0"},
                                            {"backend", "sim"},
                                            {"lines", json::array({{{"offset", 4},
                                                                    {"name", "GPIO4"},
                                                                    {"used", false},
                                                                    {"consumer", ""},
                                                                    {"direction", "input"},
                                                                    {"value", 1}}})}}})}};
      return out;
    }
    if (procedure == "gpio.unwatch") {
      out.kwargs = json::object();
      return out;
    }
    const std::string line = kwargs.value("line", "");
    if (line.rfind("GPIO", 0) != 0 || line.size() > 6) return NotFound("no line " + line + " on this board");
    if (line == "GPIO17" && procedure != "gpio.read") return Conflict("line GPIO17 is busy: held by fn:blink:inv-1");
    out.kwargs = {{"chip", "sim0"}, {"line", line}, {"offset", std::stoi(line.substr(4))},
                  {"value", kwargs.value("value", 1)}};
    if (procedure == "gpio.watch") out.kwargs["watch"] = "w" + std::to_string(++watches_);
    return out;
  }

  std::string Path(const std::string& rest = "", const std::string& board = "") {
    return "/v1/boards/" + (board.empty() ? board_ : board) + "/gpio" + rest;
  }

  std::vector<testing::FakeBoardGateway::RecordedCall> CallsOf(const std::string& procedure) {
    std::vector<testing::FakeBoardGateway::RecordedCall> out;
    for (auto& c : gateway_.calls())
      if (c.procedure == procedure) out.push_back(c);
    return out;
  }

  json History(const std::string& line, const std::string& query = "") {
    recorder_->Flush();
    auto response = Send("GET", Path("/" + line + "/history" + query), "", alice_);
    EXPECT_EQ(response.status, 200) << response.body;
    return Json(response);
  }

  static wamp::Payload Event(const std::string& line, int offset, const std::string& edge, int64_t seq) {
    wamp::Payload p;
    p.kwargs = {{"chip", "sim0"}, {"line", line},  {"offset", offset},         {"edge", edge},
                {"value", edge == "rising" ? 1 : 0}, {"timestampNs", 77 * seq}, {"seq", seq}};
    return p;
  }

  int watches_ = 0;
  std::string board_, other_;
  boost::asio::io_context io_;
  auth::RevocationHub hub_{io_.get_executor(), clock_};
  std::unique_ptr<conductor::gpio::GpioStore> gpio_store_;
  std::unique_ptr<conductor::gpio::ReadingRecorder> recorder_;
  std::unique_ptr<BoardGpio> gpio_;
};

TEST_F(GpioApiTest, LinesOfALiveBoard) {
  auto response = Send("GET", Path(), "", alice_);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(Json(response)["chips"][0]["lines"][0]["name"], "GPIO4");
  ASSERT_EQ(CallsOf("gpio.lines").size(), 1u);
  EXPECT_EQ(CallsOf("gpio.lines")[0].board_id, board_);
}

TEST_F(GpioApiTest, ReadAndWriteAnswerTheLineAndGoToTheHistory) {
  auto read = Send("GET", Path("/GPIO4"), "", alice_);
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(Json(read), json({{"chip", "sim0"}, {"line", "GPIO4"}, {"offset", 4}, {"value", 1}}));
  EXPECT_EQ(CallsOf("gpio.read")[0].payload.kwargs, json({{"line", "GPIO4"}}));

  clock_.Advance(std::chrono::milliseconds(1500));
  auto write = Send("PUT", Path("/GPIO4"), R"({"value": 0})", alice_);
  ASSERT_EQ(write.status, 200) << write.body;
  EXPECT_EQ(Json(write)["value"], 0);
  auto with_bool = Send("PUT", Path("/GPIO4"), R"({"value": true})", admin_);
  ASSERT_EQ(with_bool.status, 200) << with_bool.body;
  auto writes = CallsOf("gpio.write");
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_EQ(writes[0].payload.kwargs, json({{"line", "GPIO4"}, {"value", 0}}));
  EXPECT_EQ(writes[1].payload.kwargs, json({{"line", "GPIO4"}, {"value", 1}}));

  auto history = History("GPIO4");
  EXPECT_EQ(history["boardId"], board_);
  EXPECT_EQ(history["truncated"], false);
  ASSERT_EQ(history["readings"].size(), 3u);
  const json& first = history["readings"][0];
  EXPECT_EQ(first["kind"], "read");
  EXPECT_EQ(first["value"], 1);
  EXPECT_EQ(first["chip"], "sim0");
  EXPECT_EQ(first["offset"], 4);
  EXPECT_EQ(first["time"], "2023-11-14T22:13:20.000000000Z");
  EXPECT_EQ(first["timeNs"], 1'700'000'000'000'000'000);
  EXPECT_FALSE(first.contains("seq"));
  EXPECT_EQ(history["readings"][1]["kind"], "write");
  EXPECT_EQ(history["readings"][1]["time"], "2023-11-14T22:13:21.500000000Z");
  EXPECT_EQ(history["readings"][2]["value"], 1);
}

TEST_F(GpioApiTest, BadInputIsRefusedAndReachesNoBoard) {
  const std::vector<std::string> bad_lines = {"GPIO$4", "a%20b", std::string(49, 'G'), "GPIO;4", "GP(IO)"};
  for (const auto& line : bad_lines) {
    EXPECT_EQ(Send("GET", Path("/" + line), "", alice_).status, 400) << line;
    EXPECT_EQ(Send("PUT", Path("/" + line), R"({"value":1})", alice_).status, 400) << line;
    EXPECT_EQ(Send("GET", Path("/" + line + "/history"), "", alice_).status, 400) << line;
    EXPECT_EQ(Send("GET", Path("/events?line=" + line), "", alice_).status, 400) << line;
  }
  const std::vector<std::string> bad_bodies = {
      "",           "not json",           "[1]",        R"({})",                 R"({"value":2})",
      R"({"value":-1})", R"({"value":"1"})", R"({"value":1.0})", R"({"value":null})", R"({"value":1,"line":"GPIO5"})",
      R"({"Value":1})"};
  for (const auto& body : bad_bodies) {
    auto response = Send("PUT", Path("/GPIO4"), body, alice_);
    EXPECT_EQ(response.status, 400) << body << " → " << response.body;
    EXPECT_EQ(ErrorCodeOf(response), "invalid_argument");
  }
  EXPECT_NE(ErrorMessageOf(Send("PUT", Path("/GPIO4"), R"({"value":1,"line":"GPIO5"})", alice_)).find("\"line\""),
            std::string::npos);
  EXPECT_TRUE(gateway_.calls().empty());
  EXPECT_TRUE(History("GPIO4")["readings"].empty());
}

TEST_F(GpioApiTest, UnknownAndForeignBoardsAreRefusedBeforeTheBoard) {
  gateway_.SetOnline(other_);
  for (const auto& [method, rest, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "", ""}, {"GET", "/GPIO4", ""}, {"PUT", "/GPIO4", R"({"value":1})"},
           {"GET", "/GPIO4/history", ""}, {"GET", "/events?line=GPIO4", ""}}) {
    auto unknown = Send(method, Path(rest, "brd-nope"), body, alice_);
    EXPECT_EQ(unknown.status, 404) << method << rest << unknown.body;
    auto foreign = Send(method, Path(rest, other_), body, alice_);
    EXPECT_EQ(foreign.status, 403) << method << rest << foreign.body;
    EXPECT_EQ(ErrorCodeOf(foreign), "permission_denied");
    EXPECT_EQ(Send(method, Path(rest), body, "").status, 401);
  }
  EXPECT_TRUE(gateway_.calls().empty());
  EXPECT_EQ(gpio_->WatchCount(), 0u);
}

TEST_F(GpioApiTest, BoardErrorsMapToTheirStatus) {
  auto busy = Send("PUT", Path("/GPIO17"), R"({"value":1})", alice_);
  EXPECT_EQ(busy.status, 409) << busy.body;
  EXPECT_EQ(ErrorCodeOf(busy), "conflict");
  EXPECT_EQ(ErrorMessageOf(busy), "line GPIO17 is busy: held by fn:blink:inv-1");
  auto unknown = Send("GET", Path("/NOPE"), "", alice_);
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  auto watch_busy = Send("GET", Path("/events?line=GPIO17"), "", alice_);
  EXPECT_EQ(watch_busy.status, 409) << watch_busy.body;
  EXPECT_FALSE(watch_busy.stream) << "an error is a plain JSON answer, before any stream";
  gateway_.SetOffline(board_);
  for (const auto& [method, rest, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "", ""}, {"GET", "/GPIO4", ""}, {"PUT", "/GPIO4", R"({"value":1})"},
           {"GET", "/events?line=GPIO4", ""}}) {
    auto offline = Send(method, Path(rest), body, alice_);
    EXPECT_EQ(offline.status, 503) << method << rest << offline.body;
    EXPECT_EQ(ErrorCodeOf(offline), "unavailable");
  }
  EXPECT_TRUE(History("GPIO17")["readings"].empty());
  EXPECT_EQ(History("GPIO4")["readings"].size(), 0u) << "history of an offline board still answers";
}

TEST_F(GpioApiTest, HistoryRangesLimitsAndBadQueries) {
  for (int i = 0; i < 5; ++i) {
    gateway_.Publish(board_, "gpio.event", Event("GPIO4", 4, i % 2 ? "falling" : "rising", i + 1));
    clock_.Advance(std::chrono::seconds(1));
  }
  auto all = History("GPIO4");
  ASSERT_EQ(all["readings"].size(), 5u);
  EXPECT_EQ(all["readings"][0]["kind"], "edge");
  EXPECT_EQ(all["readings"][0]["edge"], "rising");
  EXPECT_EQ(all["readings"][0]["seq"], 1);
  EXPECT_EQ(all["readings"][0]["timestampNs"], 77);
  EXPECT_EQ(History("4")["readings"].size(), 5u) << "by offset";
  EXPECT_EQ(History("sim0:GPIO4")["readings"].size(), 5u) << "by chip and name";
  EXPECT_TRUE(History("GPIO5")["readings"].empty());

  // from is inclusive, to exclusive; RFC 3339 (any offset) or nanoseconds.
  auto range = History("GPIO4", "?from=2023-11-14T22:13:21Z&to=2023-11-14T23:13:23+01:00");
  ASSERT_EQ(range["readings"].size(), 2u) << range.dump();
  EXPECT_EQ(range["readings"][0]["seq"], 2);
  auto ns = History("GPIO4", "?from=1700000003000000000");
  ASSERT_EQ(ns["readings"].size(), 2u);
  EXPECT_EQ(ns["readings"][0]["seq"], 4);
  auto limited = History("GPIO4", "?limit=2");
  ASSERT_EQ(limited["readings"].size(), 2u);
  EXPECT_EQ(limited["readings"][0]["seq"], 4) << "the newest, oldest first";
  EXPECT_EQ(limited["truncated"], true);

  for (const std::string query : {"?limit=0", "?limit=10001", "?limit=abc", "?limit=-1", "?from=yesterday",
                                  "?to=2023-11-14T22:13:21", "?from=2023-02-30T00:00:00Z", "?from=5&to=4",
                                  "?lines=GPIO4", "?from=99999999999999999999"}) {
    auto response = Send("GET", Path("/GPIO4/history" + query), "", alice_);
    EXPECT_EQ(response.status, 400) << query << " → " << response.body;
    EXPECT_EQ(ErrorCodeOf(response), "invalid_argument") << query;
  }
}

TEST_F(GpioApiTest, TheEventStreamForwardsItsEdgesAndUnwatchesWhenTheClientGoes) {
  auto response = Send("GET", Path("/events?line=GPIO4&edge=rising&debounceMs=25&bias=pull-down"), "", alice_);
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_TRUE(response.stream);
  EXPECT_EQ(response.content_type, "text/event-stream");
  EXPECT_EQ(response.stream_options.idle_chunk, ": keepalive\n\n");
  EXPECT_EQ(response.stream_options.idle_interval, std::chrono::seconds(15));
  ASSERT_EQ(CallsOf("gpio.watch").size(), 1u);
  EXPECT_EQ(CallsOf("gpio.watch")[0].payload.kwargs,
            json({{"line", "GPIO4"}, {"edge", "rising"}, {"debounceMs", 25}, {"bias", "pull-down"}}));

  // An event before the server opened the stream waits for it.
  gateway_.Publish(board_, "gpio.event", Event("GPIO4", 4, "rising", 1));
  auto writer = std::make_shared<RecordingWriter>();
  response.stream->OnOpen(writer);
  gateway_.Publish(board_, "gpio.event", Event("GPIO4", 4, "falling", 2));  // not asked for
  gateway_.Publish(board_, "gpio.event", Event("GPIO5", 5, "rising", 1));   // another line
  gateway_.Publish(board_, "gpio.event", Event("GPIO4", 4, "rising", 3));
  auto chunks = writer->chunks();
  ASSERT_EQ(chunks.size(), 2u);
  for (const auto& chunk : chunks) {
    ASSERT_EQ(chunk.substr(0, 6), "data: ");
    ASSERT_EQ(chunk.substr(chunk.size() - 2), "\n\n");
  }
  EXPECT_EQ(json::parse(chunks[0].substr(6)), Event("GPIO4", 4, "rising", 1).kwargs);
  EXPECT_EQ(json::parse(chunks[1].substr(6))["seq"], 3);
  EXPECT_TRUE(CallsOf("gpio.unwatch").empty());

  response.stream->OnClose("the client closed the stream");
  ASSERT_EQ(CallsOf("gpio.unwatch").size(), 1u);
  EXPECT_EQ(CallsOf("gpio.unwatch")[0].payload.kwargs, json({{"watch", "w1"}}));
  EXPECT_EQ(gpio_->WatchCount(), 0u);
  gateway_.Publish(board_, "gpio.event", Event("GPIO4", 4, "rising", 4));
  EXPECT_EQ(writer->chunks().size(), 2u);
  // Every edge, streamed or not, is history.
  EXPECT_EQ(History("GPIO4")["readings"].size(), 4u);
}

TEST_F(GpioApiTest, TheEventStreamEndsWhenTheBoardGoesOffline) {
  auto response = Send("GET", Path("/events?line=GPIO4"), "", alice_);
  ASSERT_TRUE(response.stream) << response.body;
  EXPECT_EQ(CallsOf("gpio.watch")[0].payload.kwargs, json({{"line", "GPIO4"}, {"edge", "both"}, {"debounceMs", 0}}));
  auto writer = std::make_shared<RecordingWriter>();
  response.stream->OnOpen(writer);
  gateway_.Publish(board_, "gpio.event", Event("GPIO4", 4, "falling", 1));
  gateway_.EndSession(board_);
  auto chunks = writer->chunks();
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[1], "event: end\ndata: {\"reason\":\"board " + board_ + " went offline\"}\n\n");
  EXPECT_TRUE(writer->ended());
  response.stream->OnClose("ended");
  EXPECT_TRUE(CallsOf("gpio.unwatch").empty()) << "the board dropped the watch with its session";
}

TEST_F(GpioApiTest, TheEventStreamEndsWhenItsTokenIsRevoked) {
  auto response = Send("GET", Path("/events?line=GPIO4"), "", alice_);
  ASSERT_TRUE(response.stream) << response.body;
  io_.poll();  // the hub arms its timers on the executor
  io_.restart();
  EXPECT_EQ(hub_.PendingExpiries(), 1u) << "the token's expiry will end the stream too";
  auto other = Send("GET", Path("/events?line=GPIO5"), "", admin_);
  ASSERT_TRUE(other.stream) << other.body;
  auto writer = std::make_shared<RecordingWriter>();
  auto other_writer = std::make_shared<RecordingWriter>();
  response.stream->OnOpen(writer);
  other.stream->OnOpen(other_writer);
  ASSERT_EQ(Send("DELETE", "/v1/auth/tokens/current", "", alice_).status, 204);
  auto chunks = writer->chunks();
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0], "event: end\ndata: {\"reason\":\"the API token was revoked\"}\n\n");
  EXPECT_TRUE(writer->ended());
  response.stream->OnClose("ended");
  EXPECT_EQ(CallsOf("gpio.unwatch").size(), 1u) << "the board stops watching for it";
  // Events no longer reach it; the admin's stream goes on.
  gateway_.Publish(board_, "gpio.event", Event("GPIO5", 5, "rising", 1));
  EXPECT_EQ(writer->chunks().size(), 1u);
  EXPECT_EQ(other_writer->chunks().size(), 1u);
  EXPECT_FALSE(other_writer->ended());
  other.stream->OnClose("client left");
}

TEST_F(GpioApiTest, TheEventStreamEndsWhenItsUserIsDeleted) {
  auto response = Send("GET", Path("/events?line=GPIO4"), "", alice_);
  ASSERT_TRUE(response.stream) << response.body;
  const std::string alice_id = Json(Send("GET", "/v1/auth/whoami", "", alice_)).value("userId", "");
  ASSERT_EQ(Send("DELETE", "/v1/users/" + alice_id, "", admin_).status, 204);
  // Revoked before the server opened the stream: it opens with the end message and ends.
  auto writer = std::make_shared<RecordingWriter>();
  response.stream->OnOpen(writer);
  auto chunks = writer->chunks();
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0], "event: end\ndata: {\"reason\":\"the user was deleted\"}\n\n");
  EXPECT_TRUE(writer->ended());
  const size_t listeners = hub_.ListenerCount();
  response.stream->OnClose("ended");
  EXPECT_EQ(hub_.ListenerCount(), listeners - 1) << "a closed stream stops listening at once";
  response = {};
  EXPECT_EQ(hub_.ListenerCount(), listeners - 1) << "and is not counted twice";
}

TEST_F(GpioApiTest, AStreamWhoseClientLeftBeforeItOpenedStillUnwatches) {
  auto response = Send("GET", Path("/events?line=GPIO4"), "", alice_);
  ASSERT_TRUE(response.stream) << response.body;
  response.stream->OnClose("the client went away");
  EXPECT_EQ(CallsOf("gpio.unwatch").size(), 1u);
}

TEST_F(GpioApiTest, ShutdownEndsOpenStreams) {
  auto response = Send("GET", Path("/events?line=GPIO4"), "", alice_);
  ASSERT_TRUE(response.stream) << response.body;
  auto writer = std::make_shared<RecordingWriter>();
  response.stream->OnOpen(writer);
  bool done = false;
  gpio_->Shutdown([&] { done = true; });
  EXPECT_TRUE(done);
  ASSERT_EQ(writer->chunks().size(), 1u);
  EXPECT_EQ(writer->chunks()[0], "event: end\ndata: {\"reason\":\"the conductor is stopping\"}\n\n");
  EXPECT_TRUE(writer->ended());
  EXPECT_EQ(CallsOf("gpio.unwatch").size(), 1u);
  response.stream->OnClose("ended");
  EXPECT_EQ(CallsOf("gpio.unwatch").size(), 1u) << "once";
}

TEST_F(GpioApiTest, BadEventStreamQueriesAreRefused) {
  for (const std::string query : {"", "?line=", "?line=GPIO4&edge=up", "?line=GPIO4&debounceMs=1001",
                                  "?line=GPIO4&debounceMs=-1", "?line=GPIO4&debounceMs=1.5", "?line=GPIO4&bias=strong",
                                  "?line=GPIO4&count=3"}) {
    auto response = Send("GET", Path("/events" + query), "", alice_);
    EXPECT_EQ(response.status, 400) << query << " → " << response.body;
    EXPECT_FALSE(response.stream);
  }
  EXPECT_TRUE(gateway_.calls().empty());
}

TEST_F(GpioApiTest, WithoutGpioTheRoutesAre503) {
  api_ = std::make_unique<RestApi>(RestDeps{*store_, *auth_, gateway_, metrics_, pool_, config_, clock_});
  auto response = Send("GET", Path("/GPIO4"), "", alice_);
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(ErrorCodeOf(response), "unavailable");
}

TEST(TimeTextTest, Rfc3339AndNanoseconds) {
  EXPECT_EQ(ParseTimeNs("from", "0"), 0);
  EXPECT_EQ(ParseTimeNs("from", "1700000000123456789"), 1'700'000'000'123'456'789);
  EXPECT_EQ(ParseTimeNs("from", "2023-11-14T22:13:20Z"), 1'700'000'000'000'000'000);
  EXPECT_EQ(ParseTimeNs("from", "2023-11-14t22:13:20.5z"), 1'700'000'000'500'000'000);
  EXPECT_EQ(ParseTimeNs("from", "2023-11-14 23:13:20.000000001+01:00"), 1'700'000'000'000'000'001);
  EXPECT_EQ(ParseTimeNs("from", "2023-11-14T20:13:20-02:00"), 1'700'000'000'000'000'000);
  EXPECT_EQ(ParseTimeNs("from", "2023-11-14T23:13:20 01:00"), 1'700'000'000'000'000'000) << "an unencoded +";
  EXPECT_EQ(ParseTimeNs("from", "1970-01-01T00:00:00Z"), 0);
  for (const std::string bad : {"", "-5", "1e9", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14T22:13:20+0100",
                                "2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2023-11-14T24:00:00Z",
                                "2023-11-14T22:13:60Z", "2023-11-14T22:13:20.Z", "1969-12-31T23:59:59Z",
                                "2300-01-01T00:00:00Z", "2023-11-14T22:13:20Zjunk", "9223372036854775808"}) {
    auto parsed = ParseTimeNs("to", bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(parsed.error().message.rfind("to \"", 0), 0u) << parsed.error().message;
  }
  EXPECT_EQ(FormatTimeNs(1'700'000'000'000'000'001), "2023-11-14T22:13:20.000000001Z");
  EXPECT_EQ(ParseTimeNs("t", FormatTimeNs(1'234'567'890'987'654'321)), 1'234'567'890'987'654'321);
  EXPECT_TRUE(IsValidLineName("gpiochip1:5"));
  EXPECT_TRUE(IsValidLineName(std::string(48, 'a')));
  EXPECT_FALSE(IsValidLineName(std::string(49, 'a')));
  EXPECT_FALSE(IsValidLineName("GPIO 4"));
  EXPECT_FALSE(IsValidLineName(""));
}

}  // namespace
}  // namespace ew::rest
