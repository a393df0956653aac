#include "common/wamp/heartbeat.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ew::wamp {
namespace {

using std::chrono::milliseconds;

TEST(HeartbeatTermsTest, RoundTripsThroughWelcomeAndPingPayloads) {
  const HeartbeatTerms terms{milliseconds(20'000), milliseconds(40'000)};
  EXPECT_EQ(HeartbeatFromJson(HeartbeatToJson(terms)), terms);
  const std::string payload = HeartbeatPingPayload(terms);
  EXPECT_EQ(payload, R"({"interval_ms":20000,"timeout_ms":40000})");
  EXPECT_LE(payload.size(), 125u);
  EXPECT_EQ(HeartbeatFromPingPayload(payload), terms);
  // The longest terms accepted still fit a control frame.
  EXPECT_LE(HeartbeatPingPayload({kMaxHeartbeatTimeout - milliseconds(1), kMaxHeartbeatTimeout}).size(), 60u);
}

TEST(HeartbeatTermsTest, AnythingElseIsIgnored) {
  // Payloads of other peers and garbage: no terms, no exception.
  for (const char* payload : {"", "x", "{", "[]", "{}", "null", R"({"interval_ms":1000})",
                              R"({"interval_ms":"1000","timeout_ms":2000})", R"({"interval_ms":1000,"timeout_ms":2000.5})",
                              R"({"interval_ms":-1,"timeout_ms":2000})", R"({"interval_ms":{"a":1},"timeout_ms":2000})",
                              R"({"interval_ms":1000,"timeout_ms":2000} trailing)",
                              R"({"interval_ms":1000,"timeout_ms":18446744073709551615})"})
    EXPECT_FALSE(HeartbeatFromPingPayload(payload)) << payload;
  // Out of bounds: an interval under 100 ms, a timeout not above the interval or over 2 days.
  EXPECT_FALSE(HeartbeatFromPingPayload(R"({"interval_ms":99,"timeout_ms":2000})"));
  EXPECT_FALSE(HeartbeatFromPingPayload(R"({"interval_ms":2000,"timeout_ms":2000})"));
  EXPECT_FALSE(HeartbeatFromPingPayload(R"({"interval_ms":1000,"timeout_ms":172800001})"));
  EXPECT_TRUE(HeartbeatFromPingPayload(R"({"interval_ms":100,"timeout_ms":172800000})"));
  // Larger than a control frame may be: refused before parsing.
  EXPECT_FALSE(HeartbeatFromPingPayload(R"({"interval_ms":1000,"timeout_ms":2000,"pad":")" + std::string(120, 'x') +
                                        "\"}"));
  EXPECT_FALSE(HeartbeatFromJson(nlohmann::json::array({1000, 2000})));
  EXPECT_FALSE(HeartbeatFromJson(nlohmann::json()));
}

}  // namespace
}  // namespace ew::wamp
