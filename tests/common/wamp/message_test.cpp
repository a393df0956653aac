// TypeOf and TypeName: every message struct maps to its WAMP code and a printable name.
#include "common/wamp/message.hpp"

#include <set>
#include <string>
#include <variant>

#include <gtest/gtest.h>

#include "tests/common/wamp/sample_messages.hpp"

namespace ew::wamp {
namespace {

TEST(MessageTest, TypeOfMatchesTheStruct) {
  EXPECT_EQ(TypeOf(Hello{}), MessageType::kHello);
  EXPECT_EQ(TypeOf(ErrorMessage{}), MessageType::kError);
  EXPECT_EQ(TypeOf(Call{}), MessageType::kCall);
  EXPECT_EQ(TypeOf(Interrupt{}), MessageType::kInterrupt);
  EXPECT_EQ(TypeOf(Yield{}), MessageType::kYield);
}

TEST(MessageTest, EveryAlternativeHasADistinctTypeAndName) {
  std::set<MessageType> types;
  std::set<std::string> names;
  for (const auto& sample : SampleMessages()) {
    types.insert(TypeOf(sample.message));
    names.insert(TypeName(TypeOf(sample.message)));
  }
  EXPECT_EQ(types.size(), std::variant_size_v<Message>);
  EXPECT_EQ(names.size(), std::variant_size_v<Message>);
  EXPECT_EQ(names.count("UNKNOWN"), 0u);
}

TEST(MessageTest, TypeNameOfKnownAndUnknownCodes) {
  EXPECT_STREQ(TypeName(MessageType::kHello), "HELLO");
  EXPECT_STREQ(TypeName(MessageType::kUnsubscribed), "UNSUBSCRIBED");
  EXPECT_STREQ(TypeName(MessageType::kYield), "YIELD");
  EXPECT_STREQ(TypeName(static_cast<MessageType>(99)), "UNKNOWN");
}

}  // namespace
}  // namespace ew::wamp
