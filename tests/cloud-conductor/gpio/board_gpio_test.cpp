// BoardGpio against a FakeBoardGateway (boards answer from scripts, publications and session
// ends are played by the test): calls and what they record, watches and which events reach
// them, closing, session ends and shutdown.
#include "cloud-conductor/gpio/board_gpio.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "tests/support/fake_board_gateway.hpp"

namespace ew::conductor::gpio {
namespace {

using nlohmann::json;

class BoardGpioTest : public ::testing::Test {
 protected:
  BoardGpioTest() {
    auto store = GpioStore::Open(":memory:");
    if (!store) throw std::runtime_error(store.error().message);
    store_ = std::move(*store);
    recorder_ = std::make_unique<ReadingRecorder>(*store_, pool_, io_.get_executor(), clock_, metrics_,
                                                  RecorderOptions{});
    gpio_ = std::make_unique<BoardGpio>(gateway_, *recorder_, *store_, clock_, metrics_);
    gpio_->Start();
    gateway_.SetOnline("brd-a");
    gateway_.SetScript("brd-a", [this](const std::string& procedure, const wamp::Payload& payload) {
      return Board(procedure, payload.kwargs);
    });
  }
  ~BoardGpioTest() override {
    pool_.join();
    gpio_.reset();
    recorder_.reset();
  }

  // A board with lines GPIO0..GPIO27 on sim0, where GPIO17 is busy.
  Result<wamp::Payload> Board(const std::string& procedure, const json& kwargs) {
    wamp::Payload out;
    if (procedure == "gpio.lines") {
      out.kwargs = {{"chips", json::array({{{"name", "sim0"}, {"backend", "sim"}, {"lines", json::array()}}})}};
      return out;
    }
    if (procedure == "gpio.unwatch") {
      out.kwargs = json::object();
      return out;
    }
    const std::string line = kwargs.value("line", "");
    if (line.rfind("GPIO", 0) != 0) return NotFound("no line " + line);
    const int offset = std::stoi(line.substr(4));
    if (procedure == "gpio.write" && line == "GPIO17") return Conflict("line GPIO17 is busy: held by fn:x:inv-1");
    out.kwargs = {{"chip", "sim0"}, {"line", line}, {"offset", offset}, {"value", kwargs.value("value", 1)}};
    if (procedure == "gpio.watch") out.kwargs["watch"] = "w" + std::to_string(++watches_);
    return out;
  }

  template <typename T>
  static Result<T> Wait(std::function<void(std::function<void(Result<T>)>)> start) {
    std::optional<Result<T>> got;
    start([&](Result<T> r) { got = std::move(r); });
    if (!got) return Internal("no answer");  // the fake gateway answers at once
    return std::move(*got);
  }

  Result<json> Read(const std::string& line) {
    return Wait<json>([&](auto done) { gpio_->Read("brd-a", line, done); });
  }
  Result<json> Write(const std::string& line, int value) {
    return Wait<json>([&](auto done) { gpio_->Write("brd-a", line, value, done); });
  }

  struct Heard {
    std::vector<json> events;
    std::vector<std::string> ends;
  };
  Result<std::shared_ptr<BoardGpio::Watch>> StartWatch(const std::string& board, WatchRequest request, Heard* heard) {
    WatchListener listener;
    listener.on_event = [heard](const json& event) { heard->events.push_back(event); };
    listener.on_end = [heard](const std::string& reason) { heard->ends.push_back(reason); };
    return Wait<std::shared_ptr<BoardGpio::Watch>>(
        [&](auto done) { gpio_->StartWatch(board, request, std::move(listener), done); });
  }

  static wamp::Payload Event(const std::string& line, int offset, const std::string& edge, int64_t seq,
                             const std::string& chip = "sim0") {
    wamp::Payload p;
    p.kwargs = {{"chip", chip}, {"line", line},   {"offset", offset},          {"edge", edge},
                {"value", edge == "rising" ? 1 : 0}, {"timestampNs", 1000 * seq}, {"seq", seq}};
    return p;
  }

  std::vector<Reading> History(const std::string& board = "brd-a") {
    recorder_->Flush();
    ReadingQuery q;
    q.board_id = board;
    auto page = gpio_->History(q);
    return page ? page->readings : std::vector<Reading>{};
  }

  std::vector<testing::FakeBoardGateway::RecordedCall> CallsOf(const std::string& procedure) {
    std::vector<testing::FakeBoardGateway::RecordedCall> out;
    for (auto& c : gateway_.calls())
      if (c.procedure == procedure) out.push_back(c);
    return out;
  }

  int watches_ = 0;
  ManualClock clock_;
  metrics::Registry metrics_;
  testing::FakeBoardGateway gateway_;
  std::unique_ptr<GpioStore> store_;
  boost::asio::io_context io_;
  boost::asio::thread_pool pool_{1};
  std::unique_ptr<ReadingRecorder> recorder_;
  std::unique_ptr<BoardGpio> gpio_;
};

TEST_F(BoardGpioTest, ReadsAndWritesAnswerTheLineAndAreRecorded) {
  auto read = Read("GPIO4");
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, json({{"chip", "sim0"}, {"line", "GPIO4"}, {"offset", 4}, {"value", 1}}));
  clock_.Advance(std::chrono::seconds(1));
  auto written = Write("GPIO5", 0);
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ((*written)["value"], 0);
  EXPECT_EQ(CallsOf("gpio.write")[0].payload.kwargs, json({{"line", "GPIO5"}, {"value", 0}}));
  auto history = History();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].kind, ReadingKind::kRead);
  EXPECT_EQ(history[0].line, "GPIO4");
  EXPECT_EQ(history[0].time_ns, 1'700'000'000'000'000'000);
  EXPECT_EQ(history[1].kind, ReadingKind::kWrite);
  EXPECT_EQ(history[1].value, 0);
  EXPECT_EQ(history[1].time_ns, 1'700'000'001'000'000'000);
  auto lines = Wait<json>([&](auto done) { gpio_->Lines("brd-a", done); });
  ASSERT_TRUE(lines);
  EXPECT_EQ((*lines)["chips"][0]["name"], "sim0");
}

TEST_F(BoardGpioTest, BoardErrorsComeBackAndNothingIsRecorded) {
  auto busy = Write("GPIO17", 1);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, ErrorCode::kConflict);
  EXPECT_EQ(busy.error().message, "line GPIO17 is busy: held by fn:x:inv-1");
  EXPECT_EQ(Read("X9").error().code, ErrorCode::kNotFound);
  gateway_.SetOffline("brd-a");
  EXPECT_EQ(Read("GPIO4").error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(History().empty());
}

TEST_F(BoardGpioTest, MalformedAnswersAreErrorsAndNotRecorded) {
  gateway_.SetScript("brd-a", [](const std::string&, const wamp::Payload&) -> Result<wamp::Payload> {
    wamp::Payload p;
    p.kwargs = {{"chip", "sim0"}, {"line", "GPIO4"}, {"offset", 4}, {"value", 7}};
    return p;
  });
  auto read = Read("GPIO4");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, ErrorCode::kInternal);
  EXPECT_TRUE(History().empty());
}

TEST_F(BoardGpioTest, AWatchHearsItsLineAndEdgesWhileEveryEdgeIsRecorded) {
  Heard heard;
  WatchRequest request;
  request.line = "GPIO4";
  request.edge = "rising";
  request.debounce_ms = 20;
  request.bias = "pull-up";
  auto watch = StartWatch("brd-a", request, &heard);
  ASSERT_TRUE(watch) << watch.error().message;
  EXPECT_EQ((*watch)->info()["watch"], "w1");
  EXPECT_EQ(CallsOf("gpio.watch")[0].payload.kwargs,
            json({{"line", "GPIO4"}, {"edge", "rising"}, {"debounceMs", 20}, {"bias", "pull-up"}}));
  EXPECT_EQ(gpio_->WatchCount(), 1u);

  gateway_.Publish("brd-a", "gpio.event", Event("GPIO4", 4, "rising", 1));
  gateway_.Publish("brd-a", "gpio.event", Event("GPIO4", 4, "falling", 2));    // not asked for
  gateway_.Publish("brd-a", "gpio.event", Event("GPIO5", 5, "rising", 1));     // another line
  gateway_.Publish("brd-a", "gpio.event", Event("GPIO4", 4, "rising", 1, "sim1"));  // another chip
  gateway_.Publish("brd-b", "gpio.event", Event("GPIO4", 4, "rising", 9));     // another board
  gateway_.Publish("brd-a", "sys.other", Event("GPIO4", 4, "rising", 3));      // another topic
  wamp::Payload junk;
  junk.kwargs = {{"line", "GPIO4"}, {"value", "high"}};
  gateway_.Publish("brd-a", "gpio.event", junk);
  gateway_.Publish("brd-a", "gpio.event", Event("GPIO4", 4, "rising", 3));
  ASSERT_EQ(heard.events.size(), 2u);
  EXPECT_EQ(heard.events[0]["seq"], 1);
  EXPECT_EQ(heard.events[1]["seq"], 3);
  EXPECT_TRUE(heard.ends.empty());
  EXPECT_EQ(metrics_.GetCounter("ew_gpio_events_invalid_total", "").Value(), 1);
  // Every well-formed edge of the board is history, watched or not.
  auto history = History();
  ASSERT_EQ(history.size(), 5u);
  EXPECT_EQ(history[1].edge, "falling");
  EXPECT_EQ(history[1].board_time_ns, 2000);
  EXPECT_EQ(History("brd-b").size(), 1u);
}

TEST_F(BoardGpioTest, ClosingUnwatchesOnceAndSilencesTheWatch) {
  Heard heard;
  WatchRequest request;
  request.line = "GPIO4";
  auto watch = StartWatch("brd-a", request, &heard);
  ASSERT_TRUE(watch);
  (*watch)->Close();
  (*watch)->Close();
  auto unwatches = CallsOf("gpio.unwatch");
  ASSERT_EQ(unwatches.size(), 1u);
  EXPECT_EQ(unwatches[0].payload.kwargs, json({{"watch", "w1"}}));
  EXPECT_EQ(gpio_->WatchCount(), 0u);
  gateway_.Publish("brd-a", "gpio.event", Event("GPIO4", 4, "rising", 1));
  EXPECT_TRUE(heard.events.empty());
  EXPECT_TRUE(heard.ends.empty()) << "whoever closes knows";
}

TEST_F(BoardGpioTest, ASessionEndEndsItsWatchesWithoutUnwatching) {
  Heard a, b;
  WatchRequest request;
  request.line = "GPIO4";
  auto first = StartWatch("brd-a", request, &a);
  request.line = "GPIO5";
  auto second = StartWatch("brd-a", request, &b);
  ASSERT_TRUE(first && second);
  gateway_.EndSession("brd-a");
  EXPECT_EQ(a.ends, std::vector<std::string>{"board brd-a went offline"});
  EXPECT_EQ(b.ends, std::vector<std::string>{"board brd-a went offline"});
  EXPECT_EQ(gpio_->WatchCount(), 0u);
  (*first)->Close();
  EXPECT_TRUE(CallsOf("gpio.unwatch").empty()) << "the board dropped them with its session";
}

TEST_F(BoardGpioTest, AWatchOfAnEarlierSessionEndsAndOneOfTheNewSessionStays) {
  Heard old_heard, new_heard;
  WatchRequest request;
  request.line = "GPIO4";
  auto old_watch = StartWatch("brd-a", request, &old_heard);
  ASSERT_TRUE(old_watch);
  // The board reconnects: its old session ends after the new one is online (as the router does).
  gateway_.EndSession("brd-a");
  gateway_.SetOnline("brd-a");
  auto new_watch = StartWatch("brd-a", request, &new_heard);
  ASSERT_TRUE(new_watch);
  EXPECT_EQ(old_heard.ends.size(), 1u);
  gateway_.Publish("brd-a", "gpio.event", Event("GPIO4", 4, "rising", 1));
  EXPECT_TRUE(old_heard.events.empty());
  EXPECT_EQ(new_heard.events.size(), 1u);
}

TEST_F(BoardGpioTest, ShutdownEndsEveryWatchAndUnwatches) {
  Heard heard;
  WatchRequest request;
  request.line = "GPIO4";
  ASSERT_TRUE(StartWatch("brd-a", request, &heard));
  request.line = "GPIO6";
  ASSERT_TRUE(StartWatch("brd-a", request, &heard));
  bool done = false;
  gpio_->Shutdown([&] { done = true; });
  EXPECT_TRUE(done);
  EXPECT_EQ(heard.ends, std::vector<std::string>(2, "the conductor is stopping"));
  EXPECT_EQ(CallsOf("gpio.unwatch").size(), 2u);
  auto late = StartWatch("brd-a", request, &heard);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::kUnavailable);
  bool again = false;
  gpio_->Shutdown([&] { again = true; });
  EXPECT_TRUE(again) << "nothing left to wait for";
}

TEST_F(BoardGpioTest, WatchErrors) {
  Heard heard;
  WatchRequest request;
  request.line = "GPIO4";
  auto offline = StartWatch("brd-x", request, &heard);
  ASSERT_FALSE(offline);
  EXPECT_EQ(offline.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(CallsOf("gpio.watch").empty()) << "an offline board is not called";
  request.line = "nope";
  EXPECT_EQ(StartWatch("brd-a", request, &heard).error().code, ErrorCode::kNotFound);
  // An answer without chip and offset cannot route events: an error, and the watch it names goes.
  gateway_.SetScript("brd-a", [](const std::string& procedure, const wamp::Payload&) -> Result<wamp::Payload> {
    wamp::Payload p;
    p.kwargs = procedure == "gpio.watch" ? json{{"watch", "w9"}} : json::object();
    return p;
  });
  auto malformed = StartWatch("brd-a", request, &heard);
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().code, ErrorCode::kInternal);
  ASSERT_EQ(CallsOf("gpio.unwatch").size(), 1u);
  EXPECT_EQ(CallsOf("gpio.unwatch")[0].payload.kwargs["watch"], "w9");
  EXPECT_EQ(gpio_->WatchCount(), 0u);
}

}  // namespace
}  // namespace ew::conductor::gpio
