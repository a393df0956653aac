// ParseFunctionSpec / ToJson / Select: valid manifests, one test per rule that names the field.
#include "containers/package/function_spec.hpp"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace ew::containers {
namespace {

using nlohmann::json;

json Minimal() { return {{"name", "hello"}, {"version", "1.0.0"}, {"runtime", "sh"}, {"entrypoint", "main.sh"}}; }

Result<FunctionSpec> Parse(const json& doc) { return ParseFunctionSpec(doc.dump()); }

// The error of parsing `doc`, which must be InvalidArgument.
std::string ErrorOf(const json& doc) {
  auto spec = Parse(doc);
  if (spec) return "<parsed>";
  EXPECT_EQ(spec.error().code, ErrorCode::kInvalidArgument) << spec.error().message;
  return spec.error().message;
}

TEST(FunctionSpecTest, MinimalSpecGetsDefaults) {
  auto spec = Parse(Minimal());
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->name, "hello");
  EXPECT_EQ(spec->version, "1.0.0");
  EXPECT_EQ(spec->runtime, Runtime::kSh);
  EXPECT_EQ(spec->entrypoint, "main.sh");
  EXPECT_EQ(spec->memory_bytes, 64u << 20);
  EXPECT_EQ(spec->timeout, std::chrono::milliseconds(10'000));
  EXPECT_EQ(spec->max_concurrency, 4u);
  EXPECT_FALSE(spec->network);
  EXPECT_TRUE(spec->gpio.empty());
  EXPECT_FALSE(spec->warm.enabled);
  EXPECT_EQ(spec->warm.max_instances, 1u);
  EXPECT_EQ(spec->warm.idle_timeout, std::chrono::seconds(60));
  EXPECT_TRUE(spec->implementations.empty());
}

// The example of docs/FUNCTIONS.md, every field set.
const char* kFullSpec = R"({
  "name": "hello",
  "version": "1.0.0",
  "runtime": "python3",
  "entrypoint": "src/main.py",
  "memoryMb": 128,
  "timeoutMs": 2500,
  "maxConcurrency": 8,
  "network": true,
  "gpio": [{"line": "GPIO17", "direction": "output"}, {"line": "27", "direction": "input"}],
  "cloudOnly": false,
  "boardOnly": true,
  "retryOnTimeout": true,
  "warm": {"enabled": true, "maxInstances": 3, "idleTimeoutS": 120},
  "implementations": [{"arch": "aarch64", "runtime": "native", "entrypoint": "bin/hello-aarch64"}]
})";

TEST(FunctionSpecTest, FullSpecParsesEveryField) {
  auto spec = ParseFunctionSpec(kFullSpec);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->runtime, Runtime::kPython3);
  EXPECT_EQ(spec->entrypoint, "src/main.py");
  EXPECT_EQ(spec->memory_bytes, 128u << 20);
  EXPECT_EQ(spec->timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(spec->max_concurrency, 8u);
  EXPECT_TRUE(spec->network);
  ASSERT_EQ(spec->gpio.size(), 2u);
  EXPECT_EQ(spec->gpio[0].line, "GPIO17");
  EXPECT_EQ(spec->gpio[0].direction, GpioDirection::kOutput);
  EXPECT_EQ(spec->gpio[1].direction, GpioDirection::kInput);
  EXPECT_TRUE(spec->board_only);
  EXPECT_TRUE(spec->retry_on_timeout);
  EXPECT_TRUE(spec->warm.enabled);
  EXPECT_EQ(spec->warm.max_instances, 3u);
  EXPECT_EQ(spec->warm.idle_timeout, std::chrono::seconds(120));
  ASSERT_EQ(spec->implementations.size(), 1u);
  EXPECT_EQ(spec->implementations[0].arch, "aarch64");
  EXPECT_EQ(spec->implementations[0].runtime, Runtime::kNative);
}

TEST(FunctionSpecTest, ToJsonIsCanonicalAndRoundTrips) {
  auto spec = ParseFunctionSpec(kFullSpec);
  ASSERT_TRUE(spec);
  const json out = ToJson(*spec);
  EXPECT_EQ(out, json::parse(kFullSpec));  // the example is already canonical
  auto again = Parse(out);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(ToJson(*again), out);

  const json minimal = ToJson(*Parse(Minimal()));
  EXPECT_EQ(minimal["memoryMb"], 64);
  EXPECT_EQ(minimal["timeoutMs"], 10000);
  EXPECT_EQ(minimal["warm"], (json{{"enabled", false}, {"maxInstances", 1}, {"idleTimeoutS", 60}}));
  EXPECT_EQ(minimal["gpio"], json::array());
  // An omitted direction is written out as "input".
  json one_line = Minimal();
  one_line["gpio"] = {{{"line", "4"}}};
  EXPECT_EQ(ToJson(*Parse(one_line))["gpio"][0]["direction"], "input");
}

TEST(FunctionSpecTest, SnakeCaseNamesAreAccepted) {
  json doc = Minimal();
  doc["memory_mb"] = 32;
  doc["timeout_ms"] = 500;
  doc["max_concurrency"] = 2;
  doc["cloud_only"] = true;
  doc["warm"] = {{"enabled", true}, {"max_instances", 2}, {"idle_timeout_s", 5}};
  auto spec = Parse(doc);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->memory_bytes, 32u << 20);
  EXPECT_EQ(spec->timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(spec->max_concurrency, 2u);
  EXPECT_TRUE(spec->cloud_only);
  EXPECT_EQ(spec->warm.max_instances, 2u);
  EXPECT_EQ(spec->warm.idle_timeout, std::chrono::seconds(5));
}

TEST(FunctionSpecTest, ProtobufJsonShapesAreAccepted) {
  json doc = Minimal();
  doc["memoryMb"] = "256";  // proto3 JSON allows integers as strings
  doc["timeoutMs"] = 1e3;   // and integral floating-point numbers
  doc["network"] = nullptr;  // null = absent
  auto spec = Parse(doc);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->memory_bytes, 256u << 20);
  EXPECT_EQ(spec->timeout, std::chrono::milliseconds(1000));
}

TEST(FunctionSpecTest, UnknownAndDuplicatedFieldsAreRejected) {
  json doc = Minimal();
  doc["memoryMB"] = 64;
  EXPECT_EQ(ErrorOf(doc), "memoryMB: unknown field");
  doc = Minimal();
  doc["warm"] = {{"enabled", true}, {"instances", 2}};
  EXPECT_EQ(ErrorOf(doc), "warm.instances: unknown field");
  doc = Minimal();
  doc["memoryMb"] = 64;
  doc["memory_mb"] = 64;
  EXPECT_EQ(ErrorOf(doc).rfind("memoryMb: given twice", 0), 0u);
}

TEST(FunctionSpecTest, NotJsonOrNotAnObjectIsRejected) {
  auto spec = ParseFunctionSpec("{\"name\": ");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(spec.error().message.rfind("not valid JSON", 0), 0u);
  EXPECT_EQ(ErrorOf(json::array()), "must be a JSON object");
}

// Each case: a change to the minimal spec and the message it must give.
struct BadCase {
  const char* name;
  json patch;  // merged into Minimal(); null removes the key
  std::string message;
};

TEST(FunctionSpecTest, EachInvalidFieldIsNamed) {
  const std::vector<BadCase> cases = {
      {"missing name", {{"name", nullptr}}, "name: required"},
      {"bad name", {{"name", "Hello"}}, "name: must match [a-z0-9][a-z0-9_-]{0,62}"},
      {"name starts with -", {{"name", "-x"}}, "name: must match [a-z0-9][a-z0-9_-]{0,62}"},
      {"long name", {{"name", std::string(64, 'a')}}, "name: must match [a-z0-9][a-z0-9_-]{0,62}"},
      {"name not a string", {{"name", 5}}, "name: must be a string"},
      {"missing version", {{"version", nullptr}}, "version: required"},
      {"long version", {{"version", std::string(65, '1')}}, "version: must be at most 64 characters"},
      {"control char in version", {{"version", "1\n"}}, "version: must be printable ASCII"},
      {"missing runtime", {{"runtime", nullptr}}, "runtime: required"},
      {"bad runtime", {{"runtime", "bash"}}, "runtime: must be one of sh, python3, native"},
      {"missing entrypoint", {{"entrypoint", nullptr}}, "entrypoint: required"},
      {"absolute entrypoint", {{"entrypoint", "/main.sh"}}, "entrypoint: must be a relative path inside the package"},
      {"entrypoint with ..", {{"entrypoint", "a/../../main.sh"}},
       "entrypoint: must not contain '..', '.' or empty components"},
      {"entrypoint with ./", {{"entrypoint", "./main.sh"}},
       "entrypoint: must not contain '..', '.' or empty components"},
      {"memory too small", {{"memoryMb", 3}}, "memoryMb: must be between 4 and 4096"},
      {"memory too large", {{"memoryMb", 4097}}, "memoryMb: must be between 4 and 4096"},
      {"memory negative", {{"memoryMb", -1}}, "memoryMb: must be between 4 and 4096"},
      {"memory fractional", {{"memoryMb", 64.5}}, "memoryMb: must be an integer"},
      {"memory bad string", {{"memoryMb", "64MB"}}, "memoryMb: must be an integer"},
      {"timeout zero", {{"timeoutMs", 0}}, "timeoutMs: must be between 1 and 900000"},
      {"timeout too long", {{"timeoutMs", 900001}}, "timeoutMs: must be between 1 and 900000"},
      {"concurrency zero", {{"maxConcurrency", 0}}, "maxConcurrency: must be between 1 and 256"},
      {"concurrency too high", {{"maxConcurrency", 257}}, "maxConcurrency: must be between 1 and 256"},
      {"network not bool", {{"network", "yes"}}, "network: must be true or false"},
      {"gpio not array", {{"gpio", {{"line", "17"}}}}, "gpio: must be an array"},
      {"gpio element not object", {{"gpio", {"17"}}}, "gpio[0]: must be an object"},
      {"gpio empty line", {{"gpio", {{{"line", ""}}}}}, "gpio[0].line: required"},
      {"gpio long line", {{"gpio", {{{"line", std::string(33, 'x')}}}}}, "gpio[0].line: must be at most 32 characters"},
      {"gpio duplicate", {{"gpio", {{{"line", "17"}}, {{"line", "17"}}}}}, "gpio[1].line: \"17\" listed twice"},
      {"gpio direction", {{"gpio", {{{"line", "17"}, {"direction", "out"}}}}},
       "gpio[0].direction: must be input or output"},
      {"gpio unknown field", {{"gpio", {{{"line", "17"}, {"pull", "up"}}}}}, "gpio[0].pull: unknown field"},
      {"cloud and board only", {{"cloudOnly", true}, {"boardOnly", true}},
       "cloudOnly: cannot be true together with boardOnly"},
      {"warm not object", {{"warm", true}}, "warm: must be an object"},
      {"warm instances", {{"warm", {{"maxInstances", 17}}}}, "warm.maxInstances: must be between 1 and 16"},
      {"warm idle", {{"warm", {{"idleTimeoutS", 0}}}}, "warm.idleTimeoutS: must be between 1 and 86400"},
      {"warm enabled", {{"warm", {{"enabled", 1}}}}, "warm.enabled: must be true or false"},
      {"impl empty arch", {{"implementations", {{{"arch", ""}, {"runtime", "sh"}, {"entrypoint", "a"}}}}},
       "implementations[0].arch: required"},
      {"impl duplicate arch",
       {{"implementations",
         {{{"arch", "x86_64"}, {"runtime", "sh"}, {"entrypoint", "a"}},
          {{"arch", "x86_64"}, {"runtime", "sh"}, {"entrypoint", "b"}}}}},
       "implementations[1].arch: \"x86_64\" listed twice"},
      {"impl bad runtime", {{"implementations", {{{"arch", "x86_64"}, {"runtime", "go"}, {"entrypoint", "a"}}}}},
       "implementations[0].runtime: must be one of sh, python3, native"},
      {"impl bad entrypoint",
       {{"implementations", {{{"arch", "x86_64"}, {"runtime", "native"}, {"entrypoint", "../a"}}}}},
       "implementations[0].entrypoint: must not contain '..', '.' or empty components"},
      {"impl missing entrypoint", {{"implementations", {{{"arch", "x86_64"}, {"runtime", "native"}}}}},
       "implementations[0].entrypoint: required"},
      {"placement not object", {{"placement", "ucb1"}}, "placement: must be an object"},
      {"placement unknown field", {{"placement", {{"strategy", "ucb1"}, {"c", 1}}}}, "placement.c: unknown field"},
      {"placement strategy shape", {{"placement", {{"strategy", "UCB 1"}}}},
       "placement.strategy: must be a strategy name such as ucb1 or sliding-ucb"},
      {"placement epsilon range", {{"placement", {{"epsilon", 1.5}}}}, "placement.epsilon: must be between 0.0 and 1.0"},
      {"placement epsilon type", {{"placement", {{"epsilon", "0.1"}}}}, "placement.epsilon: must be a number"},
      {"placement ucbC range", {{"placement", {{"ucbC", -0.1}}}}, "placement.ucbC: must be between 0.0 and 10.0"},
      {"placement window range", {{"placement", {{"window", 65}}}}, "placement.window: must be between 1 and 64"},
  };
  for (const BadCase& c : cases) {
    json doc = Minimal();
    for (const auto& [key, value] : c.patch.items()) {
      if (value.is_null()) {
        doc.erase(key);
      } else {
        doc[key] = value;
      }
    }
    EXPECT_EQ(ErrorOf(doc), c.message) << c.name << ": " << doc.dump();
  }
}

// Issue 18: a function names its placement strategy and that strategy's knobs.
TEST(FunctionSpecTest, PlacementIsReadAndWrittenBackOnlyWhenSet) {
  json doc = Minimal();
  EXPECT_FALSE(ToJson(*ParseFunctionSpec(doc.dump())).contains("placement"));
  doc["placement"] = {{"strategy", "sliding-ucb"}, {"epsilon", 0.25}, {"ucb_c", 0.2}, {"window", 12}};
  auto spec = ParseFunctionSpec(doc.dump());
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->placement.strategy, "sliding-ucb");
  EXPECT_DOUBLE_EQ(*spec->placement.epsilon, 0.25);
  EXPECT_DOUBLE_EQ(*spec->placement.ucb_c, 0.2);
  EXPECT_EQ(*spec->placement.window, 12u);
  EXPECT_EQ(ToJson(*spec)["placement"],
            (json{{"strategy", "sliding-ucb"}, {"epsilon", 0.25}, {"ucbC", 0.2}, {"window", 12}}));
  doc["placement"] = {{"strategy", "greedy"}};
  spec = ParseFunctionSpec(doc.dump());
  ASSERT_TRUE(spec);
  EXPECT_FALSE(spec->placement.epsilon);
  EXPECT_EQ(ToJson(*spec)["placement"], (json{{"strategy", "greedy"}}));
}

TEST(FunctionSpecTest, SelectPicksTheMatchingImplementation) {
  json doc = Minimal();
  doc["runtime"] = "native";
  doc["entrypoint"] = "bin/hello-x86_64";
  doc["implementations"] = {{{"arch", "aarch64"}, {"runtime", "native"}, {"entrypoint", "bin/hello-aarch64"}},
                            {{"arch", "armv7l"}, {"runtime", "sh"}, {"entrypoint", "main.sh"}}};
  auto spec = Parse(doc);
  ASSERT_TRUE(spec) << spec.error().message;

  auto arm64 = spec->Select("aarch64");
  ASSERT_TRUE(arm64);
  EXPECT_EQ(arm64->entrypoint, "bin/hello-aarch64");
  auto arm32 = spec->Select("armv7l");
  ASSERT_TRUE(arm32);
  EXPECT_EQ(arm32->runtime, Runtime::kSh);
  // Native top level, implementations exist, none for this arch: it cannot run here.
  auto other = spec->Select("riscv64");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kNotFound);

  // A portable top level is the fallback for any other arch.
  doc["runtime"] = "sh";
  doc["entrypoint"] = "main.sh";
  spec = Parse(doc);
  ASSERT_TRUE(spec);
  auto fallback = spec->Select("riscv64");
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->runtime, Runtime::kSh);
  EXPECT_EQ(fallback->entrypoint, "main.sh");
  // With no implementations the top level is used even when native.
  auto plain = Parse(Minimal());
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->Select("x86_64"));
}

TEST(FunctionSpecTest, NamesOfEnums) {
  EXPECT_EQ(RuntimeName(Runtime::kSh), "sh");
  EXPECT_EQ(RuntimeName(Runtime::kPython3), "python3");
  EXPECT_EQ(RuntimeName(Runtime::kNative), "native");
  EXPECT_EQ(GpioDirectionName(GpioDirection::kInput), "input");
  EXPECT_EQ(GpioDirectionName(GpioDirection::kOutput), "output");
}

}  // namespace
}  // namespace ew::containers
