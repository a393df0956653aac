// The `gpio` commands against a fake conductor (board names resolved, what is sent, what is
// printed), and the event-stream parser `gpio watch` reads with.
#include "cloud-conductor/cli/gpio_commands.hpp"

#include <gtest/gtest.h>

#include "cloud-conductor/cli/event_stream.hpp"
#include "cloud-conductor/cli/gpio_format.hpp"
#include "tests/cloud-conductor/cli/command_fixture.hpp"

namespace ew::cli {
namespace {

using nlohmann::json;

std::string Edge(int seq, const std::string& edge = "rising") {
  return json{{"chip", "sim0"}, {"line", "GPIO4"}, {"offset", 4}, {"edge", edge},
              {"value", edge == "rising" ? 1 : 0}, {"timestampNs", 1000 * seq}, {"seq", seq}}
      .dump();
}

class GpioCommandsTest : public testing::CommandFixture {
 protected:
  void SetUp() override {
    CommandFixture::SetUp();
    fake_.Route("GET /v1/boards", 200, R"({"boards":[{"id":"brd-1","name":"pi-1"}]})");
  }
  static constexpr char kEvents[] = "GET /v1/boards/brd-1/gpio/events?line=GPIO4&edge=both&debounceMs=0";
};

TEST_F(GpioCommandsTest, ListShowsEveryLineAndBrokenChips) {
  fake_.Route("GET /v1/boards/brd-1/gpio", 200, R"({"chips":[
    {"name":"sim0","backend":"sim","lines":[
      {"offset":4,"name":"GPIO4","used":true,"consumer":"watch","direction":"input","value":1},
      {"offset":17,"name":"GPIO17","used":false,"consumer":"","direction":"output","value":0}]},
    {"name":"gpiochip1","backend":"libgpiod","error":"cannot open /dev/gpiochip1","lines":[]}]})");
  ASSERT_TRUE(Run([](Context& c) { return GpioList(c, "pi-1"); }));
  EXPECT_EQ(out_,
            "CHIP  OFFSET  LINE    DIRECTION  VALUE  HELD-BY\n"
            "sim0  4       GPIO4   input      1      watch\n"
            "sim0  17      GPIO17  output     0      -\n"
            "gpiochip1 (libgpiod): cannot open /dev/gpiochip1\n");
}

TEST_F(GpioCommandsTest, GetAndSetByBoardName) {
  const std::string line = R"({"chip":"sim0","line":"GPIO17","offset":17,"value":1})";
  fake_.Route("GET /v1/boards/brd-1/gpio/GPIO17", 200, line);
  fake_.Route("PUT /v1/boards/brd-1/gpio/GPIO17", 200, line);
  ASSERT_TRUE(Run([](Context& c) { return GpioGet(c, "pi-1", "GPIO17"); }));
  EXPECT_EQ(out_, "GPIO17 = 1  (chip sim0, offset 17)\n");
  ASSERT_TRUE(Run([](Context& c) { return GpioSet(c, "pi-1", "GPIO17", 1); }));
  EXPECT_EQ(out_, "GPIO17 = 1  (chip sim0, offset 17)\n");
  auto puts = fake_.requests("PUT /v1/boards/brd-1/gpio/GPIO17");
  ASSERT_EQ(puts.size(), 1u);
  EXPECT_EQ(json::parse(puts[0].body), json({{"value", 1}}));
  ASSERT_TRUE(Run([](Context& c) { return GpioGet(c, "brd-1", "GPIO17"); }, /*json=*/true));
  EXPECT_EQ(json::parse(out_), json::parse(line));
}

TEST_F(GpioCommandsTest, LinesWithAChipAreEncoded) {
  fake_.Route("GET /v1/boards/brd-1/gpio/gpiochip1%3A5", 200, R"({"chip":"gpiochip1","line":"5","offset":5,"value":0})");
  ASSERT_TRUE(Run([](Context& c) { return GpioGet(c, "pi-1", "gpiochip1:5"); }));
  EXPECT_EQ(out_, "5 = 0  (chip gpiochip1, offset 5)\n");
}

TEST_F(GpioCommandsTest, ABusyLineIsTheApisError) {
  fake_.Route("PUT /v1/boards/brd-1/gpio/GPIO17", 409,
              R"({"error":{"code":"conflict","message":"line GPIO17 is busy: held by fn:blink:inv-1"}})");
  auto result = Run([](Context& c) { return GpioSet(c, "pi-1", "GPIO17", 0); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kConflict);
  EXPECT_EQ(result.error().message, "line GPIO17 is busy: held by fn:blink:inv-1");
}

TEST_F(GpioCommandsTest, WatchPrintsALinePerEdgeUntilTheCount) {
  fake_.Route(kEvents, 200,
              ": keepalive\n\ndata: " + Edge(1) + "\n\ndata: " + Edge(2, "falling") + "\n\ndata: " + Edge(3) + "\n\n");
  GpioWatchOptions options;
  options.count = 2;
  ASSERT_TRUE(Run([&](Context& c) { return GpioWatch(c, "pi-1", "GPIO4", options); }));
  EXPECT_EQ(out_,
            "22:13:20.000  sim0:GPIO4  rising   1  seq 1\n"
            "22:13:20.000  sim0:GPIO4  falling  0  seq 2\n");
  EXPECT_EQ(err_, "");
}

TEST_F(GpioCommandsTest, WatchSendsItsOptionsAndPrintsJson) {
  fake_.Route("GET /v1/boards/brd-1/gpio/events?line=GPIO4&edge=rising&debounceMs=20", 200,
              "data: " + Edge(1) + "\n\n");
  GpioWatchOptions options;
  options.edge = "rising";
  options.debounce_ms = 20;
  options.count = 1;
  ASSERT_TRUE(Run([&](Context& c) { return GpioWatch(c, "pi-1", "GPIO4", options); }, /*json=*/true));
  EXPECT_EQ(out_, Edge(1) + "\n");
}

TEST_F(GpioCommandsTest, WatchEndsWithTheConductorsReasonAndReportsGaps) {
  fake_.Route(kEvents, 200,
              "data: " + Edge(1) + "\n\ndata: " + Edge(4) +
                  "\n\nevent: end\ndata: {\"reason\":\"board brd-1 went offline\"}\n\n");
  auto result = Run([&](Context& c) { return GpioWatch(c, "pi-1", "GPIO4", GpioWatchOptions{}); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(result.error().message, "board brd-1 went offline");
  EXPECT_EQ(out_, "22:13:20.000  sim0:GPIO4  rising   1  seq 1\n22:13:20.000  sim0:GPIO4  rising   1  seq 4\n");
  EXPECT_EQ(err_, "warning: 2 edge(s) of sim0:GPIO4 missed (seq 1 → 4)\n");
}

TEST_F(GpioCommandsTest, WatchErrorsBeforeTheStreamAreTheApis) {
  fake_.Route(kEvents, 503, R"({"error":{"code":"unavailable","message":"board brd-1 is offline"}})");
  auto result = Run([&](Context& c) { return GpioWatch(c, "pi-1", "GPIO4", GpioWatchOptions{}); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(result.error().message, "board brd-1 is offline");
}

TEST_F(GpioCommandsTest, HistoryShowsReadingsAndSaysWhenThereAreMore) {
  fake_.Route("GET /v1/boards/brd-1/gpio/GPIO4/history?from=2023-11-14T22%3A00%3A00%2B01%3A00&limit=2", 200,
              R"({"boardId":"brd-1","line":"GPIO4","truncated":true,"readings":[
    {"time":"2023-11-14T22:13:20.000000000Z","timeNs":1,"chip":"sim0","line":"GPIO4","offset":4,"kind":"read","value":1},
    {"time":"2023-11-14T22:13:21.000000000Z","timeNs":2,"chip":"sim0","line":"GPIO4","offset":4,"kind":"edge",
     "value":0,"edge":"falling","timestampNs":5,"seq":9}]})");
  GpioHistoryOptions options;
  options.from = "2023-11-14T22:00:00+01:00";
  options.limit = 2;
  ASSERT_TRUE(Run([&](Context& c) { return GpioHistory(c, "pi-1", "GPIO4", options); }));
  EXPECT_EQ(out_,
            "TIME                            LINE        KIND  VALUE  EDGE     SEQ\n"
            "2023-11-14T22:13:20.000000000Z  sim0:GPIO4  read  1      -        -\n"
            "2023-11-14T22:13:21.000000000Z  sim0:GPIO4  edge  0      falling  9\n");
  EXPECT_NE(err_.find("the newest 2 readings"), std::string::npos) << err_;
}

TEST(EventStreamParserTest, EventsAcrossPiecesCommentsAndTypes) {
  EventStreamParser parser;
  EXPECT_TRUE(parser.Feed(": keepalive\n\nda").empty());
  EXPECT_TRUE(parser.Feed("ta: {\"a\":").empty());
  auto events = parser.Feed("1}\r\n\r\ndata:x\ndata: y\n\nevent: end\ndata: bye\n\nevent: nodata\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "message");
  EXPECT_EQ(events[0].data, "{\"a\":1}");
  EXPECT_EQ(events[1].data, "x\ny");
  EXPECT_EQ(events[2].type, "end");
  EXPECT_EQ(events[2].data, "bye");
  EXPECT_EQ(parser.Feed("id: 7\nretry: 10\ndata\n\n").size(), 1u) << "a bare data field is empty data";
}

TEST(GpioFormatTest, EdgeLineTime) {
  EXPECT_EQ(RenderEdge(json::parse(Edge(42, "falling")), 1'700'000'000'123),
            "22:13:20.123  sim0:GPIO4  falling  0  seq 42\n");
}

}  // namespace
}  // namespace ew::cli
