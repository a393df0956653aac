// Typed env entries evaluated as Node-RED does: str/num/bool/json/bin/env, cred skipped, the rest
// refused by name.
#include "flows/partition/env_scope.hpp"

#include <gtest/gtest.h>

namespace ew::flows {
namespace {

using nlohmann::json;

json Entry(const std::string& name, const std::string& type, json value) {
  return {{"name", name}, {"type", type}, {"value", std::move(value)}};
}

TEST(EnvScopeTest, EvaluatesEachType) {
  json entries = json::array({Entry("S", "str", "kitchen"), Entry("N", "num", "21.5"), Entry("I", "num", "7"),
                              Entry("B", "bool", "true"), Entry("J", "json", R"({"a":[1,2]})"),
                              Entry("BIN", "bin", "[1,2,3]"), Entry("E", "env", "OUTER"), Entry("MISSING", "env", "NOPE"),
                              Entry("SECRET", "cred", "")});
  auto scope = ApplyEnv(entries, json{{"OUTER", "from-tab"}});
  ASSERT_TRUE(scope) << scope.error().message;
  EXPECT_EQ((*scope)["S"], "kitchen");
  EXPECT_EQ((*scope)["N"], 21.5);
  EXPECT_EQ((*scope)["I"], 7);
  EXPECT_EQ((*scope)["B"], true);
  EXPECT_EQ((*scope)["J"]["a"][1], 2);
  EXPECT_EQ((*scope)["BIN"], json::parse("[1,2,3]"));
  EXPECT_EQ((*scope)["E"], "from-tab");
  EXPECT_EQ((*scope)["MISSING"], "");
  EXPECT_FALSE(scope->contains("SECRET"));
  EXPECT_EQ((*scope)["OUTER"], "from-tab");
}

TEST(EnvScopeTest, InnerOverridesOuter) {
  auto scope = ApplyEnv(json::array({Entry("A", "str", "inner")}), json{{"A", "outer"}, {"B", "kept"}});
  ASSERT_TRUE(scope);
  EXPECT_EQ((*scope)["A"], "inner");
  EXPECT_EQ((*scope)["B"], "kept");
}

TEST(EnvScopeTest, BadValuesAndTypesAreNamed) {
  EXPECT_EQ(ApplyEnv(json::array({Entry("N", "num", "12abc")}), {}).error().message, "env \"N\" (num): not a number");
  EXPECT_EQ(ApplyEnv(json::array({Entry("B", "bool", "yes")}), {}).error().message, "env \"B\" (bool): not true or false");
  EXPECT_EQ(ApplyEnv(json::array({Entry("X", "jsonata", "1+1")}), {}).error().message,
            "env \"X\" (jsonata): Edgewire does not evaluate this env type");
  EXPECT_NE(ApplyEnv(json::array({Entry("J", "json", "{")}), {}).error().message.find("env \"J\" (json): env value"),
            std::string::npos);
}

TEST(EnvScopeTest, BoardFromEnv) {
  EXPECT_EQ(*BoardFromEnv(json::array({Entry("EDGEWIRE_BOARD", "str", "brd-a")}), {}), "brd-a");
  EXPECT_EQ(*BoardFromEnv(json::array({Entry("EDGEWIRE_BOARD", "env", "WHICH")}), json{{"WHICH", "brd-b"}}), "brd-b");
  EXPECT_EQ(*BoardFromEnv(json::array({Entry("OTHER", "str", "x")}), {}), "");
  EXPECT_FALSE(BoardFromEnv(json::array({Entry("EDGEWIRE_BOARD", "num", "3")}), {}));
}

}  // namespace
}  // namespace ew::flows
