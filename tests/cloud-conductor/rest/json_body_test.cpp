#include "cloud-conductor/rest/json_body.hpp"

#include <gtest/gtest.h>

#include "cloud-conductor/rest/validation.hpp"
#include "edgewire/v1/api.pb.h"

namespace ew::rest {
namespace {

TEST(JsonBodyTest, ParsesCamelCaseAndProtoNames) {
  edgewire::v1::CreateTokenRequest request;
  ASSERT_TRUE(ParseBody(R"({"username":"a","ttlSeconds":"60"})", &request));
  EXPECT_EQ(request.ttl_seconds(), 60);
  ASSERT_TRUE(ParseBody(R"({"ttl_seconds":61})", &request));
  EXPECT_EQ(request.ttl_seconds(), 61);
}

TEST(JsonBodyTest, UnknownFieldIsNamed) {
  edgewire::v1::CreateProjectRequest request;
  auto parsed = ParseBody(R"({"name":"a","owner":"b"})", &request);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(parsed.error().message, "invalid request body: unknown field \"owner\"");
}

TEST(JsonBodyTest, MalformedJsonIsOneLine) {
  edgewire::v1::CreateProjectRequest request;
  auto parsed = ParseBody(R"({"name":)", &request);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos) << parsed.error().message;
}

TEST(JsonBodyTest, EmptyBodyOnlyWhenAllowed) {
  edgewire::v1::BoardCallRequest request;
  EXPECT_FALSE(ParseBody("", &request));
  EXPECT_TRUE(ParseBody(" \n", &request, /*allow_empty=*/true));
}

TEST(JsonBodyTest, RendersEveryPrimitiveField) {
  edgewire::v1::Project project;
  project.set_id("prj-1");
  EXPECT_EQ(nlohmann::json::parse(ToJson(project)),
            nlohmann::json::parse(R"({"id":"prj-1","name":"","createdAt":"0"})"));
}

TEST(JsonBodyTest, WampValuesRoundTrip) {
  auto args = nlohmann::json::parse(R"([1, "two", {"three": [3, null, true]}, []])");
  google::protobuf::ListValue list;
  ASSERT_TRUE(FromWampValue(args, &list));
  EXPECT_EQ(ToWampValue(list), args);

  auto kwargs = nlohmann::json::parse(R"({"a": {"b": {}}, "c": 2.5})");
  google::protobuf::Struct object;
  ASSERT_TRUE(FromWampValue(kwargs, &object));
  EXPECT_EQ(ToWampValue(object), kwargs);

  EXPECT_FALSE(FromWampValue(nlohmann::json::object(), &list));
  EXPECT_FALSE(FromWampValue(nlohmann::json::array(), &object));
}

TEST(ValidationTest, Names) {
  for (const std::string& good : std::vector<std::string>{"a", "pi-1", "0.x_y", std::string(63, 'a')}) EXPECT_TRUE(IsValidName(good)) << good;
  for (const std::string& bad :
       std::vector<std::string>{"", "-a", "_a", ".a", "A", "a b", "a/b", std::string(64, 'a'), "é"})
    EXPECT_FALSE(IsValidName(bad)) << bad;
}

TEST(ValidationTest, Procedures) {
  for (const std::string good : {"sys.ping", "ping", "gpio.read_all", "a.b.c", "fn.x1"})
    EXPECT_TRUE(IsValidProcedure(good)) << good;
  for (const std::string bad : {"", ".", "sys.", ".sys", "sys..ping", "Sys.ping", "sys-ping", "sys/ping", "sys ping"})
    EXPECT_FALSE(IsValidProcedure(bad)) << bad;
}

}  // namespace
}  // namespace ew::rest
