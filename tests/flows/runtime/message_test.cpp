// Property paths as RED.util.getMessageProperty/setMessageProperty read them, and the JavaScript
// comparisons switch relies on (== converts, https://developer.mozilla.org/docs/Web/JavaScript/Equality_comparisons_and_sameness).
#include "flows/runtime/message.hpp"

#include <gtest/gtest.h>

namespace ew::flows::runtime {
namespace {

using nlohmann::json;

TEST(PropertyPath, GetSetDelete) {
  auto p = PropertyPath::Parse("payload.a[1]['b c']");
  ASSERT_TRUE(p) << p.error().message;
  json msg = {{"payload", {{"a", json::array({0, {{"b c", 7}}})}}}};
  ASSERT_NE(p->Get(msg), nullptr);
  EXPECT_EQ(*p->Get(msg), 7);
  EXPECT_TRUE(p->Set(msg, "x"));
  EXPECT_EQ(msg["payload"]["a"][1]["b c"], "x");
  EXPECT_TRUE(p->Delete(msg));
  EXPECT_EQ(p->Get(msg), nullptr);

  auto q = PropertyPath::Parse("msg.deep.new.value");
  ASSERT_TRUE(q);
  json empty = json::object();
  EXPECT_TRUE(q->Set(empty, 1));  // missing objects are created
  EXPECT_EQ(empty["deep"]["new"]["value"], 1);
  json scalar = {{"deep", 5}};
  EXPECT_FALSE(q->Set(scalar, 1));  // a step through a number fails, changes nothing
  EXPECT_EQ(scalar["deep"], 5);
}

TEST(PropertyPath, BadExpressionsAreRefused) {
  EXPECT_FALSE(PropertyPath::Parse(""));
  EXPECT_FALSE(PropertyPath::Parse("a..b"));
  EXPECT_FALSE(PropertyPath::Parse("a[x]"));
  EXPECT_FALSE(PropertyPath::Parse("a[1"));
  EXPECT_FALSE(PropertyPath::Parse("a."));
}

TEST(LooseEquality, FollowsJavaScript) {
  EXPECT_TRUE(LooseEquals(json(5), json("5")));
  EXPECT_TRUE(LooseEquals(json(1), json(true)));
  EXPECT_TRUE(LooseEquals(json(0), json("")));
  EXPECT_FALSE(LooseEquals(json(nullptr), json(0)));
  EXPECT_TRUE(LooseEquals(json(nullptr), json(nullptr)));
  EXPECT_FALSE(LooseEquals(json("a"), json("b")));
  EXPECT_EQ(LooseCompare(json("10"), json(9)), 1);
  EXPECT_EQ(LooseCompare(json("10"), json("9")), -1);  // two strings compare as text
  EXPECT_FALSE(LooseCompare(json("x"), json(1)).has_value());
  EXPECT_EQ(ToJsString(json(2.5)), "2.5");
  EXPECT_EQ(ToJsString(json(3.0)), "3");
}

TEST(MessageId, SixteenHexDigitsAndDistinct) {
  std::string a = NewMessageId(), b = NewMessageId();
  EXPECT_EQ(a.size(), 16u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace ew::flows::runtime
