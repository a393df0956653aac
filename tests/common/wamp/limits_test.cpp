// What a sender checks before sending: exactly what the codec will accept, no more.
#include "common/wamp/limits.hpp"

#include <gtest/gtest.h>

#include "common/wamp/codec.hpp"

namespace ew::wamp {
namespace {

Value Nested(size_t depth) {
  Value v = 1;
  for (size_t i = 0; i < depth; ++i) v = Value::array({std::move(v)});
  return v;
}

TEST(LimitsTest, Issue11_TheDeepestPayloadThatFitsIsTheDeepestTheCodecDecodes) {
  // args itself is one level: its elements may nest kMaxPayloadDepth - 1 more.
  for (size_t inner : {kMaxPayloadDepth - 1, kMaxPayloadDepth}) {
    Yield yield;
    yield.request = 7;
    yield.payload.args = Value::array({Nested(inner)});
    const bool fits = static_cast<bool>(CheckPayloadFits(yield.payload.args, Value::object(), 0, 1 << 20, "result"));
    for (auto serializer : {Serializer::kJson, Serializer::kMsgpack}) {
      const bool decodes = static_cast<bool>(Decode(serializer, Encode(serializer, yield)));
      EXPECT_EQ(fits, decodes) << "inner depth " << inner;
    }
  }
}

TEST(LimitsTest, SizeCountsTheEnvelope) {
  EXPECT_TRUE(CheckPayloadFits(Value::array(), Value::object(), 1000 - kEnvelopeBytes, 1000, "result"));
  auto over = CheckPayloadFits(Value::array(), Value::object(), 1001 - kEnvelopeBytes, 1000, "the result");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(over.error().message.find("the result is"), std::string::npos) << over.error().message;
}

}  // namespace
}  // namespace ew::wamp
