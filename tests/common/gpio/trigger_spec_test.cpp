#include "common/gpio/trigger_spec.hpp"

#include <gtest/gtest.h>

namespace ew::gpio {
namespace {

using nlohmann::json;

TEST(TriggerSpecTest, DefaultsAndRoundTrip) {
  auto parsed = ParseTrigger({{"line", "GPIO4"}});
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->edge, Edges::kRising);
  EXPECT_EQ(ToJson(*parsed), (json{{"line", "GPIO4"}, {"edge", "rising"}, {"debounceMs", 0}}));
  auto full = ParseTrigger({{"line", "sim0:5"}, {"edge", "both"}, {"debounceMs", 1000}});
  ASSERT_TRUE(full);
  EXPECT_EQ(full->debounce.count(), 1000);
  EXPECT_EQ(ParseTrigger(ToJson(*full))->line, "sim0:5");
}

TEST(TriggerSpecTest, BadTriggersNameTheField) {
  const std::vector<std::pair<json, std::string>> cases = {
      {json::array(), "object"},
      {{{"edge", "rising"}}, "line is required"},
      {{{"line", ""}}, "line is required"},
      {{{"line", 4}}, "line is required"},
      {{{"line", std::string(49, 'x')}}, "48"},
      {{{"line", "GPIO4"}, {"edge", "sideways"}}, "edge"},
      {{{"line", "GPIO4"}, {"edge", 1}}, "edge"},
      {{{"line", "GPIO4"}, {"debounceMs", 1001}}, "debounceMs"},
      {{{"line", "GPIO4"}, {"debounceMs", -1}}, "debounceMs"},
      {{{"line", "GPIO4"}, {"debounceMs", 2.5}}, "debounceMs"},
      {{{"line", "GPIO4"}, {"when", "now"}}, "unknown field \"when\""},
  };
  for (const auto& [input, expected] : cases) {
    auto parsed = ParseTrigger(input);
    ASSERT_FALSE(parsed) << input.dump();
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message.find(expected), std::string::npos) << input.dump() << ": " << parsed.error().message;
  }
}

TEST(TriggerSpecTest, ListsAreBoundedAndEachLineOnce) {
  EXPECT_TRUE(ParseTriggers(nullptr)->empty());
  EXPECT_TRUE(ParseTriggers(json::array())->empty());
  EXPECT_FALSE(ParseTriggers(json::object()));
  json many = json::array();
  for (int i = 0; i < 17; ++i) many.push_back({{"line", "GPIO" + std::to_string(i)}});
  EXPECT_FALSE(ParseTriggers(many));
  many.erase(many.begin());
  EXPECT_EQ(ParseTriggers(many)->size(), 16u);
  auto twice = ParseTriggers(json::array({{{"line", "GPIO4"}}, {{"line", "GPIO4"}, {"edge", "falling"}}}));
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("triggers[1]"), std::string::npos);
}

}  // namespace
}  // namespace ew::gpio
