#include "cloud-conductor/triggers/threshold_condition.hpp"

#include <gtest/gtest.h>

namespace ew::conductor::triggers {
namespace {

using nlohmann::json;

ThresholdCondition Make(const json& spec) {
  auto c = ThresholdCondition::Parse(spec);
  EXPECT_TRUE(c) << spec.dump() << ": " << (c ? "" : c.error().message);
  return *c;
}

// The alarm: fire only above 30.
TEST(ThresholdCondition, TemperatureAboveThirty) {
  auto above = Make({{"field", "temperature"}, {"op", ">"}, {"value", 30}});
  EXPECT_TRUE(above.Matches({{"temperature", 30.5}}));
  EXPECT_TRUE(above.Matches({{"temperature", 31}, {"room", "lab"}}));
  EXPECT_FALSE(above.Matches({{"temperature", 30}}));
  EXPECT_FALSE(above.Matches({{"temperature", 12.25}}));
  // Not an alarm: no such field, not a number, not an object.
  EXPECT_FALSE(above.Matches({{"humidity", 99}}));
  EXPECT_FALSE(above.Matches({{"temperature", "31"}}));
  EXPECT_FALSE(above.Matches({{"temperature", true}}));
  EXPECT_FALSE(above.Matches(json(31)));
  EXPECT_FALSE(above.Matches(json("temperature 31")));
  EXPECT_FALSE(above.Matches(json::array({31})));
}

TEST(ThresholdCondition, EveryOperatorAtTheBoundary) {
  struct Case {
    const char* op;
    bool below, at, above;
  };
  for (const Case& c : {Case{">", false, false, true}, Case{">=", false, true, true}, Case{"<", true, false, false},
                        Case{"<=", true, true, false}, Case{"==", false, true, false}, Case{"!=", true, false, true}}) {
    auto cond = Make({{"field", "v"}, {"op", c.op}, {"value", 10}});
    EXPECT_EQ(cond.Matches({{"v", 9.999}}), c.below) << c.op;
    EXPECT_EQ(cond.Matches({{"v", 10.0}}), c.at) << c.op;  // 10 and 10.0 are the same number
    EXPECT_EQ(cond.Matches({{"v", 10}}), c.at) << c.op;
    EXPECT_EQ(cond.Matches({{"v", 11}}), c.above) << c.op;
    EXPECT_EQ(cond.ToJson()["op"], c.op);
  }
}

TEST(ThresholdCondition, NestedFieldsStringsAndBooleans) {
  auto nested = Make({{"field", "reading.celsius"}, {"op", "<=", }, {"value", -5.5}});
  EXPECT_TRUE(nested.Matches({{"reading", {{"celsius", -10}}}}));
  EXPECT_FALSE(nested.Matches({{"reading", {{"celsius", 0}}}}));
  EXPECT_FALSE(nested.Matches({{"reading", -10}}));
  auto state = Make({{"field", "state"}, {"op", "=="}, {"value", "open"}});
  EXPECT_TRUE(state.Matches({{"state", "open"}}));
  EXPECT_FALSE(state.Matches({{"state", "closed"}}));
  EXPECT_FALSE(state.Matches({{"state", 1}}));
  auto not_alarm = Make({{"field", "alarm"}, {"op", "!="}, {"value", false}});
  EXPECT_TRUE(not_alarm.Matches({{"alarm", true}}));
  EXPECT_FALSE(not_alarm.Matches({{"alarm", false}}));
  EXPECT_TRUE(not_alarm.Matches({{"alarm", "yes"}}));  // another type is not equal
  EXPECT_FALSE(not_alarm.Matches({{"other", 1}}));     // but a missing field never matches
  EXPECT_EQ(Make({{"field", "t"}, {"op", ">"}, {"value", 30}}).ToJson(),
            json({{"field", "t"}, {"op", ">"}, {"value", 30}}));
  EXPECT_EQ(Make({{"field", "t"}, {"op", ">"}, {"value", 30.0}}).ToJson()["value"], json(30));
  // Thresholds outside int64_t stay doubles (the cast that made 30.0 an integer was undefined
  // for them: the range is now checked first).
  EXPECT_EQ(Make({{"field", "t"}, {"op", ">"}, {"value", 1e300}}).ToJson()["value"], json(1e300));
  EXPECT_EQ(Make({{"field", "t"}, {"op", "<"}, {"value", -9.3e18}}).ToJson()["value"], json(-9.3e18));
}

TEST(ThresholdCondition, RefusalsNameTheMember) {
  struct Bad {
    json spec;
    const char* names;
  };
  for (const Bad& b : std::vector<Bad>{
           {json(30), "condition"},
           {{{"op", ">"}, {"value", 1}}, "condition.field"},
           {{{"field", ""}, {"op", ">"}, {"value", 1}}, "condition.field"},
           {{{"field", "a..b"}, {"op", ">"}, {"value", 1}}, "condition.field"},
           {{{"field", std::string(200, 'x')}, {"op", ">"}, {"value", 1}}, "condition.field"},
           {{{"field", "a.b.c.d.e.f.g.h.i"}, {"op", ">"}, {"value", 1}}, "condition.field"},
           {{{"field", "t"}, {"op", "=>"}, {"value", 1}}, "condition.op"},
           {{{"field", "t"}, {"value", 1}}, "condition.op"},
           {{{"field", "t"}, {"op", ">"}}, "condition.value"},
           {{{"field", "t"}, {"op", ">"}, {"value", "30"}}, "condition.value"},
           {{{"field", "t"}, {"op", "<"}, {"value", true}}, "condition.value"},
           {{{"field", "t"}, {"op", "=="}, {"value", json::array()}}, "condition.value"},
           {{{"field", "t"}, {"op", ">"}, {"value", 1}, {"unit", "C"}}, "unknown member"},
       }) {
    auto parsed = ThresholdCondition::Parse(b.spec);
    ASSERT_FALSE(parsed) << b.spec.dump();
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find(b.names), std::string::npos) << parsed.error().message;
  }
}

}  // namespace
}  // namespace ew::conductor::triggers
