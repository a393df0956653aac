// The guarded reader of untrusted JSON and msgpack: limits hold while parsing, errors say why
// without quoting the input, and Depth() walks any value without recursion.
#include "common/json/guarded_json.hpp"

#include <gtest/gtest.h>

namespace ew::json {
namespace {

std::string Nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(GuardedJsonTest, ParsesOrdinaryDocuments) {
  auto v = Parse(R"({"a": [1, 2.5, "x", null, true], "b": {"c": {}}})");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ((*v)["a"][2], "x");
  EXPECT_TRUE((*v)["b"]["c"].is_object());
}

TEST(GuardedJsonTest, DepthLimitCountsContainers) {
  ParseLimits limits;
  limits.max_depth = 3;
  limits.what = "body";
  EXPECT_TRUE(Parse(Nested(3), limits));
  EXPECT_TRUE(Parse(R"({"a": {"b": [7]}})", limits));
  auto deep = Parse(Nested(4), limits);
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(deep.error().message, "body: nesting deeper than 3 levels");
}

TEST(GuardedJsonTest, Issue11_HundredThousandLevelsAreRefusedNotRecursedInto) {
  auto deep = Parse(Nested(100'000));
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message.find("nesting deeper than 64 levels"), std::string::npos);
  // Unbalanced, too: refused at the limit long before the end.
  EXPECT_FALSE(Parse(std::string(1'000'000, '[')));
}

TEST(GuardedJsonTest, SizeLimitIsCheckedBeforeParsing) {
  ParseLimits limits;
  limits.max_bytes = 10;
  limits.what = "event";
  auto big = Parse(R"({"aaaaaaaaaaaaa": 1})", limits);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message, "event: input is 20 bytes, over the 10-byte limit");
}

TEST(GuardedJsonTest, Issue11_ErrorsNeverQuoteTheInput) {
  // nlohmann's own message ends with "last read: '<input>'": a token would reach the log.
  auto bad = Parse(R"({"ticket": "s3cr3t-token-value)");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.find("s3cr3t"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("invalid JSON"), std::string::npos) << bad.error().message;
  auto literal = Parse("passw0rd");
  ASSERT_FALSE(literal);
  EXPECT_EQ(literal.error().message.find("passw0rd"), std::string::npos) << literal.error().message;
}

TEST(GuardedJsonTest, TrailingBytesAreAnError) {
  EXPECT_FALSE(Parse("{} {}"));
  EXPECT_FALSE(Parse("[1]x"));
}

TEST(GuardedJsonTest, MsgpackDeclaredLengthsMustFitTheInput) {
  ParseLimits limits;
  const std::string array32_claiming_4g("\xdd\xff\xff\xff\xff", 5);
  auto lie = Parse(array32_claiming_4g, limits, Format::kMsgpack);
  ASSERT_FALSE(lie);
  EXPECT_NE(lie.error().message.find("truncated msgpack"), std::string::npos) << lie.error().message;
  const std::string fixarray_2_of_ints("\x92\x01\x02", 3);
  auto ok = Parse(fixarray_2_of_ints, limits, Format::kMsgpack);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, nlohmann::json::array({1, 2}));
  // 100 nested fixarrays of one element.
  std::string deep(100, '\x91');
  deep += '\x01';
  limits.max_depth = 64;
  EXPECT_FALSE(Parse(deep, limits, Format::kMsgpack));
}

TEST(GuardedJsonTest, WampBinaryStringsOnlyWhenAsked) {
  const std::string text = std::string(R"(["\u0000AQI="])");
  auto plain = Parse(text);
  ASSERT_TRUE(plain);
  EXPECT_TRUE((*plain)[0].is_string());
  ParseLimits wamp;
  wamp.wamp_binary_strings = true;
  auto binary = Parse(text, wamp);
  ASSERT_TRUE(binary);
  ASSERT_TRUE((*binary)[0].is_binary());
  EXPECT_EQ((*binary)[0].get_binary(), std::vector<uint8_t>({1, 2}));
}

TEST(GuardedJsonTest, DepthWalksWithoutRecursionAndStopsEarly) {
  EXPECT_EQ(Depth(nlohmann::json(5), 10), 0u);
  EXPECT_EQ(Depth(nlohmann::json::array(), 10), 1u);
  EXPECT_EQ(Depth(nlohmann::json::parse(R"({"a": [1, {"b": []}], "c": 2})"), 10), 4u);
  // Built by hand, 2,000 deep: counted up to the stop and no further.
  nlohmann::json deep = nlohmann::json::array();
  for (int i = 0; i < 2'000; ++i) deep = nlohmann::json::array({std::move(deep)});
  EXPECT_EQ(Depth(deep, 127), 128u);
  EXPECT_EQ(Depth(deep, 20'000), 2'001u);
}

}  // namespace
}  // namespace ew::json
