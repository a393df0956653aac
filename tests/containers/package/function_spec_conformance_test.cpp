// Keeps the nlohmann parser of function.json (what boards use) in step with protobuf's proto3
// JSON mapping of edgewire.v1.FunctionSpec (what the schema says): same field names, same
// accepted shapes, and ToJson output that protobuf reads and prints back unchanged.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "containers/package/function_spec.hpp"
#include "edgewire/v1/functions.pb.h"

namespace ew::containers {
namespace {

using nlohmann::json;
namespace pbutil = google::protobuf::util;

std::optional<edgewire::v1::FunctionSpec> ProtoParse(const std::string& text) {
  edgewire::v1::FunctionSpec message;
  if (!pbutil::JsonStringToMessage(text, &message).ok()) return std::nullopt;
  return message;
}

std::string ProtoPrint(const edgewire::v1::FunctionSpec& message, bool snake_case = false) {
  pbutil::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = snake_case;
  std::string out;
  EXPECT_TRUE(pbutil::MessageToJsonString(message, &out, options).ok());
  return out;
}

const std::string kHead = R"("name": "hello", "version": "1.0.0", "runtime": "sh", "entrypoint": "main.sh")";
std::string Doc(const std::string& extra = "") { return "{" + kHead + (extra.empty() ? "" : ", " + extra) + "}"; }

const std::string kFull = Doc(R"("memoryMb": 128, "timeoutMs": 2500, "maxConcurrency": 8, "network": true,
  "gpio": [{"line": "GPIO17", "direction": "output"}, {"line": "27"}], "cloudOnly": false, "boardOnly": true,
  "warm": {"enabled": true, "maxInstances": 3, "idleTimeoutS": 120},
  "implementations": [{"arch": "aarch64", "runtime": "native", "entrypoint": "bin/hello"}],
  "placement": {"strategy": "sliding-ucb", "epsilon": 0.2, "ucbC": 0.15, "window": 30})");

// Shapes both parsers must accept; the values must agree too.
const std::vector<std::string> kAccepted = {
    Doc(),
    kFull,
    Doc(R"("memory_mb": 32, "timeout_ms": 5, "max_concurrency": 2, "cloud_only": true,
      "warm": {"enabled": true, "max_instances": 2, "idle_timeout_s": 9})"),
    Doc(R"("memoryMb": 32, "timeout_ms": 5)"),                          // spellings mixed across fields
    Doc(R"("memoryMb": null, "warm": null, "gpio": null, "network": null)"),  // null = absent
    Doc(R"("memoryMb": "64", "timeoutMs": 64.0, "maxConcurrency": 1e1)"),  // integer forms
    Doc(R"("gpio": [], "implementations": [], "warm": {})"),
    Doc(R"("name": "again")"),  // a repeated key: the last one wins in both
    Doc(R"("placement": {"strategy": "greedy", "epsilon": 0})"),
    Doc(R"("placement": {"ucb_c": 1.5, "window": "8"})"),
};

// Shapes both must reject (values chosen valid, so only the shape is wrong).
const std::vector<std::string> kRejected = {
    Doc(R"("memoryMB": 64)"),          // unknown (misspelt) field
    Doc(R"("extra": 1)"),
    Doc(R"("warm": {"enabled": true, "instances": 2})"),
    Doc(R"("gpio": [{"line": "17", "pull": "up"}])"),
    Doc(R"("implementations": [{"arch": "x86_64", "runtime": "sh", "entrypoint": "a", "os": "linux"}])"),
    R"({"name": 5, "version": "1", "runtime": "sh", "entrypoint": "m"})",
    Doc(R"("network": 1)"),
    Doc(R"("memoryMb": true)"),
    Doc(R"("memoryMb": 64.5)"),
    Doc(R"("memoryMb": "1e3")"),
    Doc(R"("memoryMb": " 64")"),
    Doc(R"("memoryMb": "0x40")"),
    Doc(R"("memoryMb": -1)"),
    Doc(R"("memoryMb": 4294967296)"),
    Doc(R"("gpio": "17")"),
    Doc(R"("warm": true)"),
    Doc(R"("implementations": [5])"),
    Doc(R"("placement": {"strategy": "ucb1", "c": 1})"),
    Doc(R"("placement": {"epsilon": true})"),
    Doc(R"("placement": "ucb1")"),
    "[]",
    "\"hello\"",
    "{",
};

TEST(FunctionSpecConformanceTest, BothAcceptTheSameShapesWithTheSameValues) {
  for (const std::string& text : kAccepted) {
    auto ours = ParseFunctionSpec(text);
    auto proto = ProtoParse(text);
    ASSERT_TRUE(ours) << text << "\n" << ours.error().message;
    ASSERT_TRUE(proto) << text;
    // Every field the document set (non-default in proto3 terms) reads the same in our canonical
    // form; fields it left out are our defaults there and zero in the proto, so not compared.
    auto canonical = ProtoParse(ToJson(*ours).dump());
    ASSERT_TRUE(canonical) << ToJson(*ours).dump();
    pbutil::MessageDifferencer differ;
    differ.set_scope(pbutil::MessageDifferencer::PARTIAL);
    std::string diff;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(*proto, *canonical)) << text << "\n" << diff;
  }
}

TEST(FunctionSpecConformanceTest, BothRejectTheSameShapes) {
  for (const std::string& text : kRejected) {
    EXPECT_FALSE(ParseFunctionSpec(text)) << text;
    EXPECT_FALSE(ProtoParse(text)) << text;
  }
}

// protobuf 3.21's JSON parser is laxer than the proto3 JSON spec on these; we keep to the spec,
// so what we accept is always a subset of what protobuf accepts, never the other way round.
TEST(FunctionSpecConformanceTest, ProtobufLeniencyIsNotCopied) {
  for (const std::string& text : {
           Doc(R"("network": "true")"),             // a bool as a string
           Doc(R"("gpio": {"line": "17"})"),         // a lone object for a repeated field
           Doc(R"("gpio": [null])"),                 // a null element
           Doc(R"("memoryMb": 64, "memory_mb": 64)"),  // one field under both names
           Doc(R"("memoryMb": "+64")"),
       }) {
    EXPECT_FALSE(ParseFunctionSpec(text)) << text;
  }
}

TEST(FunctionSpecConformanceTest, ToJsonRoundTripsThroughTheProto) {
  for (const std::string& text : kAccepted) {
    auto spec = ParseFunctionSpec(text);
    ASSERT_TRUE(spec);
    const json canonical = ToJson(*spec);
    auto message = ProtoParse(canonical.dump());
    ASSERT_TRUE(message) << canonical.dump();
    // Printed back with every primitive field: exactly our canonical form.
    EXPECT_EQ(json::parse(ProtoPrint(*message)), canonical) << text;
    // Both of protobuf's printings read back to the same spec.
    for (bool snake : {false, true}) {
      auto again = ParseFunctionSpec(ProtoPrint(*message, snake));
      ASSERT_TRUE(again) << ProtoPrint(*message, snake) << "\n" << again.error().message;
      EXPECT_EQ(ToJson(*again), canonical);
    }
  }
}

// The JSON names of a message's fields per the proto descriptor.
std::set<std::string> JsonNames(const google::protobuf::Descriptor* descriptor) {
  std::set<std::string> names;
  for (int i = 0; i < descriptor->field_count(); ++i) names.insert(descriptor->field(i)->json_name());
  return names;
}

std::set<std::string> Keys(const json& object) {
  std::set<std::string> keys;
  for (const auto& item : object.items()) keys.insert(item.key());
  return keys;
}

// A field added to the .proto but not to the parser (or the reverse) fails here.
TEST(FunctionSpecConformanceTest, FieldSetsMatchTheProto) {
  auto spec = ParseFunctionSpec(kFull);
  ASSERT_TRUE(spec);
  const json out = ToJson(*spec);
  EXPECT_EQ(Keys(out), JsonNames(edgewire::v1::FunctionSpec::descriptor()));
  EXPECT_EQ(Keys(out["warm"]), JsonNames(edgewire::v1::WarmSpec::descriptor()));
  EXPECT_EQ(Keys(out["gpio"][0]), JsonNames(edgewire::v1::GpioLine::descriptor()));
  EXPECT_EQ(Keys(out["implementations"][0]), JsonNames(edgewire::v1::Implementation::descriptor()));
  EXPECT_EQ(Keys(out["placement"]), JsonNames(edgewire::v1::PlacementSpec::descriptor()));
}

}  // namespace
}  // namespace ew::containers
