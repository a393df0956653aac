#include "cloud-conductor/cli/format.hpp"

#include <gtest/gtest.h>

namespace ew::cli {
namespace {

TEST(RenderTableTest, AlignsColumnsWithoutTrailingBlanks) {
  std::string table = RenderTable({"ID", "NAME", "STATUS"}, {{"brd-1", "pi", "online"}, {"brd-22", "kitchen-pi", ""}});
  EXPECT_EQ(table,
            "ID      NAME        STATUS\n"
            "brd-1   pi          online\n"
            "brd-22  kitchen-pi\n");
}

TEST(RenderTableTest, HeaderOnlyAndShortRows) {
  EXPECT_EQ(RenderTable({"A", "B"}, {}), "A  B\n");
  EXPECT_EQ(RenderTable({"A", "B"}, {{"x"}}), "A  B\nx\n");
}

TEST(RenderTableTest, CountsUtf8CharactersNotBytes) {
  std::string table = RenderTable({"NAME", "X"}, {{"café", "1"}, {"tea", "2"}});
  EXPECT_EQ(table,
            "NAME  X\n"
            "café  1\n"
            "tea   2\n");
}

TEST(RelativeTimeTest, Units) {
  const int64_t now = 1'700'000'000;
  EXPECT_EQ(RelativeTime(0, now), "never");
  EXPECT_EQ(RelativeTime(now, now), "0s ago");
  EXPECT_EQ(RelativeTime(now - 12, now), "12s ago");
  EXPECT_EQ(RelativeTime(now - 59, now), "59s ago");
  EXPECT_EQ(RelativeTime(now - 60, now), "1m ago");
  EXPECT_EQ(RelativeTime(now - 3599, now), "59m ago");
  EXPECT_EQ(RelativeTime(now - 3600, now), "1h ago");
  EXPECT_EQ(RelativeTime(now - 47 * 3600, now), "47h ago");
  EXPECT_EQ(RelativeTime(now - 48 * 3600, now), "2d ago");
  EXPECT_EQ(RelativeTime(now + 30, now), "0s ago");  // clock skew
}

TEST(TimeUntilTest, Units) {
  const int64_t now = 1'700'000'000;
  EXPECT_EQ(TimeUntil(now, now), "expired");
  EXPECT_EQ(TimeUntil(now - 5, now), "expired");
  EXPECT_EQ(TimeUntil(now + 12, now), "in 12s");
  EXPECT_EQ(TimeUntil(now + 300, now), "in 5m");
  EXPECT_EQ(TimeUntil(now + 24 * 3600, now), "in 24h");
  EXPECT_EQ(TimeUntil(now + 23 * 3600 + 59 * 60 + 5, now), "in 23h 59m");
}

TEST(FormatUtcTest, Formats) {
  EXPECT_EQ(FormatUtc(0), "-");
  EXPECT_EQ(FormatUtc(1'700'000'000), "2023-11-14 22:13:20 UTC");
}

TEST(JsonInt64Test, ReadsProto3Strings) {
  auto object = nlohmann::json::parse(R"({"a":"42","b":7,"c":"x","d":null,"e":"12abc"})");
  EXPECT_EQ(JsonInt64(object, "a"), 42);
  EXPECT_EQ(JsonInt64(object, "b"), 7);
  EXPECT_EQ(JsonInt64(object, "c"), 0);
  EXPECT_EQ(JsonInt64(object, "d"), 0);
  EXPECT_EQ(JsonInt64(object, "e"), 0);
  EXPECT_EQ(JsonInt64(object, "missing"), 0);
}

TEST(RenderBoardTableTest, StatusLastSeenAndPeer) {
  const int64_t now = 1'700'000'000;
  auto boards = nlohmann::json::parse(R"([
    {"id":"brd-1","name":"pi-kitchen","projectId":"prj-a","status":"online","lastSeen":"1699999000",
     "sessionPeer":"192.0.2.4:5123","agentVersion":"0.1.0","packageVersion":"0.1.0-2"},
    {"id":"brd-2","name":"pi-lab","projectId":"prj-a","status":"offline","lastSeen":"1699999988","sessionPeer":"",
     "agentVersion":"0.1.0","packageVersion":""},
    {"id":"brd-3","name":"new","projectId":"prj-b","status":"pending","lastSeen":"0"}
  ])");
  EXPECT_EQ(RenderBoardTable(boards, now),
            "ID     NAME        PROJECT  STATUS   LAST-SEEN  PEER            AGENT\n"
            "brd-1  pi-kitchen  prj-a    online   now        192.0.2.4:5123  0.1.0-2\n"
            "brd-2  pi-lab      prj-a    offline  12s ago    -               0.1.0\n"
            "brd-3  new         prj-b    pending  never      -               -\n");
  EXPECT_EQ(RenderBoardTable(nlohmann::json::array(), now), "ID  NAME  PROJECT  STATUS  LAST-SEEN  PEER  AGENT\n");
}

TEST(RenderBoardTest, KeyValueLines) {
  auto board = nlohmann::json::parse(R"({"id":"brd-1","name":"pi","projectId":"prj-a","status":"offline",
    "createdAt":"1700000000","enrolledAt":"0","lastSeen":"0","labels":{"room":"kitchen","floor":"1"}})");
  EXPECT_EQ(RenderBoard(board, 1'700'000'100),
            "id:        brd-1\n"
            "name:      pi\n"
            "project:   prj-a\n"
            "status:    offline\n"
            "peer:      -\n"
            "created:   2023-11-14 22:13:20 UTC\n"
            "enrolled:  not yet\n"
            "last seen: never\n"
            "labels:    floor=1, room=kitchen\n");
}

TEST(RenderCallResultTest, ShowsWhatThereIs) {
  auto args = nlohmann::json::parse(R"([1, "a"])");
  auto kwargs = nlohmann::json::parse(R"({"k": true})");
  EXPECT_EQ(RenderCallResult(args, nlohmann::json::object()), "[\n  1,\n  \"a\"\n]\n");
  EXPECT_EQ(RenderCallResult(nlohmann::json::array(), kwargs), "{\n  \"k\": true\n}\n");
  EXPECT_EQ(nlohmann::json::parse(RenderCallResult(args, kwargs)),
            nlohmann::json({{"args", args}, {"kwargs", kwargs}}));
  EXPECT_EQ(RenderCallResult(nlohmann::json::array(), nlohmann::json::object()), "[]\n");
}

TEST(ArgumentValueTest, JsonElseString) {
  EXPECT_EQ(ArgumentValue("17"), nlohmann::json(17));
  EXPECT_EQ(ArgumentValue("true"), nlohmann::json(true));
  EXPECT_EQ(ArgumentValue("\"17\""), nlohmann::json("17"));
  EXPECT_EQ(ArgumentValue("{\"a\":1}"), nlohmann::json({{"a", 1}}));
  EXPECT_EQ(ArgumentValue("on"), nlohmann::json("on"));
  EXPECT_EQ(ArgumentValue(""), nlohmann::json(""));
}

}  // namespace
}  // namespace ew::cli
