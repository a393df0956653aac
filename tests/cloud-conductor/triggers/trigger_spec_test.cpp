#include "cloud-conductor/triggers/trigger_spec.hpp"

#include <gtest/gtest.h>

namespace ew::conductor::triggers {
namespace {

using nlohmann::json;

TEST(TriggerSpec, MqttWithCondition) {
  auto spec = TriggerSpec::FromRequest({{"type", "mqtt"},
                                        {"functionId", "fn-1"},
                                        {"topic", "sensors/+/temperature"},
                                        {"qos", 1},
                                        {"condition", {{"field", "temperature"}, {"op", ">"}, {"value", 30}}}});
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->kind, TriggerKind::kMqtt);
  EXPECT_EQ(spec->topic, "sensors/+/temperature");
  EXPECT_EQ(spec->qos, 1);
  ASSERT_TRUE(spec->condition);
  // What the registry keeps reads back the same.
  TriggerSpec base;
  base.id = "trg-1";
  base.kind = TriggerKind::kMqtt;
  auto back = TriggerSpec::FromStored(base, spec->Details());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->Details(), spec->Details());
}

TEST(TriggerSpec, Schedule) {
  auto spec = TriggerSpec::FromRequest({{"type", "schedule"}, {"functionId", "fn-1"}, {"schedule", "*/15 8-18 * * 1-5"}});
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->kind, TriggerKind::kSchedule);
  EXPECT_EQ(spec->Details(), json({{"schedule", "*/15 8-18 * * 1-5"}}));
  EXPECT_TRUE(spec->Schedule());
}

TEST(TriggerSpec, BadRequestsNameTheMember) {
  struct Bad {
    json body;
    const char* names;
  };
  const json ok_mqtt = {{"type", "mqtt"}, {"functionId", "fn-1"}, {"topic", "a/b"}};
  auto with = [&](const char* key, json value) {
    json b = ok_mqtt;
    b[key] = std::move(value);
    return b;
  };
  for (const Bad& b : std::vector<Bad>{
           {json::array(), "object"},
           {{{"functionId", "fn-1"}, {"topic", "a"}}, "type"},
           {{{"type", "gpio"}, {"functionId", "fn-1"}}, "type"},
           {{{"type", "mqtt"}, {"topic", "a"}}, "functionId"},
           {with("topic", ""), "topic"},
           {with("topic", 5), "topic"},
           {with("topic", "a/#/b"), "topic"},
           {with("topic", "a/b+"), "topic"},
           {with("topic", "$SYS/#"), "topic"},
           {with("topic", std::string(300, 'a')), "topic"},
           {with("qos", 2), "qos"},
           {with("qos", "1"), "qos"},
           {with("condition", {{"field", "t"}, {"op", "~"}, {"value", 1}}), "condition.op"},
           {with("schedule", "* * * * *"), "unknown member"},
           {{{"type", "schedule"}, {"functionId", "fn-1"}}, "schedule"},
           {{{"type", "schedule"}, {"functionId", "fn-1"}, {"schedule", "* * * *"}}, "schedule"},
           {{{"type", "schedule"}, {"functionId", "fn-1"}, {"schedule", "0 0 * * * *"}}, "schedule"},
           {{{"type", "schedule"}, {"functionId", "fn-1"}, {"schedule", "61 * * * *"}}, "minute"},
           {{{"type", "schedule"}, {"functionId", "fn-1"}, {"schedule", "0 0 30 2 *"}}, "never fires"},
           {{{"type", "schedule"}, {"functionId", "fn-1"}, {"schedule", "* * * * *"}, {"topic", "a"}}, "unknown member"},
       }) {
    auto parsed = TriggerSpec::FromRequest(b.body);
    ASSERT_FALSE(parsed) << b.body.dump();
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument) << b.body.dump();
    EXPECT_NE(parsed.error().message.find(b.names), std::string::npos) << parsed.error().message;
  }
}

}  // namespace
}  // namespace ew::conductor::triggers
