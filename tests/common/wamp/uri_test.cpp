// URI rules (strict WAMP plus '-' for board ids) and the ew.board.<id> helpers used by the
// router's authorization.
#include "common/wamp/uri.hpp"

#include <gtest/gtest.h>

namespace ew::wamp {
namespace {

TEST(UriTest, StrictUrisAccepted) {
  for (const char* uri : {"ew", "ew.board.brd-3f9a0c1d2e4b5a69.gpio.read", "wamp.error.no_such_procedure",
                          "ew.flow.flw-1.wire.node_7.0", "a_b.c-d.0"}) {
    EXPECT_TRUE(IsValidUri(uri)) << uri;
    EXPECT_TRUE(IsValidUri(uri, /*allow_empty_components=*/true)) << uri;
  }
}

TEST(UriTest, BadUrisRejected) {
  for (const char* uri : {"", ".", "ew.", ".ew", "ew..board", "Ew.board", "ew board", "ew.bo#ard", "ew.board.*",
                          "ew/board", "ew.board.\xc3\xa9", "ew.board.x\n"}) {
    EXPECT_FALSE(IsValidUri(uri)) << uri;
  }
}

TEST(UriTest, EmptyComponentsOnlyWhenAllowed) {
  for (const char* pattern : {"ew.board..gpio.event", "ew.board.", ".gpio", "ew..", "."}) {
    EXPECT_FALSE(IsValidUri(pattern)) << pattern;
    EXPECT_TRUE(IsValidUri(pattern, true)) << pattern;
  }
  EXPECT_FALSE(IsValidUri("", true));
  EXPECT_FALSE(IsValidUri("ew..Board", true));
}

TEST(UriTest, BoardUri) {
  EXPECT_EQ(BoardUri("brd-3f9a0c1d2e4b5a69", "gpio.read"), "ew.board.brd-3f9a0c1d2e4b5a69.gpio.read");
  EXPECT_EQ(BoardUri("brd-1", ""), "ew.board.brd-1");
  EXPECT_TRUE(IsValidUri(BoardUri("brd-3f9a0c1d2e4b5a69", "sys.ping")));
}

TEST(UriTest, BoardIdFromUri) {
  EXPECT_EQ(BoardIdFromUri("ew.board.brd-3f9a0c1d2e4b5a69.gpio.read"), "brd-3f9a0c1d2e4b5a69");
  EXPECT_EQ(BoardIdFromUri("ew.board.brd-1.status"), "brd-1");
  EXPECT_EQ(BoardIdFromUri(BoardUri("brd-9", "fn.invoke")), "brd-9");
  EXPECT_EQ(BoardIdFromUri("ew.board.brd-1"), "brd-1");  // a prefix pattern names its board too
  EXPECT_EQ(BoardIdFromUri("ew.board.brd-1."), std::nullopt);
  EXPECT_EQ(BoardIdFromUri("ew.board..gpio.event"), std::nullopt);
  EXPECT_EQ(BoardIdFromUri("ew.board."), std::nullopt);
  EXPECT_EQ(BoardIdFromUri("ew.boards.brd-1.x"), std::nullopt);
  EXPECT_EQ(BoardIdFromUri("ew.conductor.board.hello"), std::nullopt);
  EXPECT_EQ(BoardIdFromUri("xew.board.brd-1.x"), std::nullopt);
  EXPECT_EQ(BoardIdFromUri(""), std::nullopt);
}

TEST(UriTest, SplitBoardUriGivesTheIdAndTheSuffix) {
  auto parts = SplitBoardUri("ew.board.brd-1.tunnel.open");
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->board_id, "brd-1");
  EXPECT_EQ(parts->suffix, "tunnel.open");
  parts = SplitBoardUri("ew.board.brd-1");
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->board_id, "brd-1");
  EXPECT_EQ(parts->suffix, "");
  // Exactly where BoardIdFromUri has no id.
  for (const char* uri : {"ew.board.brd-1.", "ew.board..gpio.event", "ew.board.", "ew.boards.brd-1.x", "", "x"})
    EXPECT_EQ(SplitBoardUri(uri).has_value(), BoardIdFromUri(uri).has_value()) << uri;
}

TEST(UriTest, HasPrefixMatchesWholeComponents) {
  EXPECT_TRUE(HasPrefix("ew.board.brd-1.gpio.read", "ew.board"));
  EXPECT_TRUE(HasPrefix("ew.board.brd-1.gpio.read", "ew.board.brd-1"));
  EXPECT_TRUE(HasPrefix("ew.board.brd-1.gpio.read", "ew.board.brd-1."));
  EXPECT_TRUE(HasPrefix("ew.board.brd-1", "ew.board.brd-1"));
  EXPECT_TRUE(HasPrefix("ew.board.brd-1", ""));
  // The authorization case: brd-1 must not reach brd-10's procedures.
  EXPECT_FALSE(HasPrefix("ew.board.brd-10.gpio.read", "ew.board.brd-1"));
  EXPECT_FALSE(HasPrefix("ew.boardx.y", "ew.board"));
  EXPECT_FALSE(HasPrefix("ew.board", "ew.board.brd-1"));
  EXPECT_FALSE(HasPrefix("ew.board", "ew.board."));
  EXPECT_FALSE(HasPrefix("", "ew"));
}

}  // namespace
}  // namespace ew::wamp
