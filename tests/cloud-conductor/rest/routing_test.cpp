// 404 / 405, /healthz, /metrics, and request counting.
#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

namespace ew::rest {
namespace {

TEST_F(RestApiTest, UnknownPathIs404Json) {
  for (const std::string path : {"/", "/v1", "/v1/nothing", "/v1/boards/x/y", "/v2/boards"}) {
    auto response = Send("GET", path, "", admin_);
    EXPECT_EQ(response.status, 404) << path;
    EXPECT_EQ(ErrorCodeOf(response), "not_found") << path;
  }
}

TEST_F(RestApiTest, KnownPathWithWrongMethodIs405WithAllow) {
  auto response = Send("PUT", "/v1/boards", "{}", admin_);
  EXPECT_EQ(response.status, 405);
  ASSERT_EQ(response.headers.size(), 1u);
  EXPECT_EQ(response.headers[0].first, "Allow");
  EXPECT_EQ(response.headers[0].second, "GET, POST");
  EXPECT_TRUE(Json(response).contains("error"));

  auto tokens = Send("GET", "/v1/auth/tokens");
  EXPECT_EQ(tokens.status, 405);
  ASSERT_EQ(tokens.headers.size(), 1u);
  EXPECT_EQ(tokens.headers[0].second, "POST");
}

TEST_F(RestApiTest, TrailingSlashIsIgnored) {
  EXPECT_EQ(Send("GET", "/v1/boards/", "", alice_).status, 200);
}

TEST_F(RestApiTest, HealthzNeedsNoToken) {
  auto response = Send("GET", "/healthz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Json(response), nlohmann::json({{"status", "ok"}}));
}

TEST_F(RestApiTest, RequestsAreCountedByRouteAndCode) {
  Send("GET", "/v1/boards", "", alice_);
  Send("GET", "/v1/boards", "", alice_);
  Send("GET", "/v1/boards");
  Send("GET", "/nowhere");
  auto counter = [&](const std::string& route, const std::string& code) {
    return metrics_.GetCounter("ew_http_requests_total", "", {{"route", route}, {"code", code}}).Value();
  };
  EXPECT_EQ(counter("/v1/boards", "200"), 2);
  EXPECT_EQ(counter("/v1/boards", "401"), 1);
  EXPECT_EQ(counter("unmatched", "404"), 1);
  // The fixture's logins went through the token route.
  EXPECT_EQ(counter("/v1/auth/tokens", "201"), 3);

  auto metrics = Send("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(metrics.body.find("ew_http_requests_total{"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("ew_http_request_duration_seconds_bucket{"), std::string::npos);
  EXPECT_NE(metrics.body.find("route=\"/v1/boards\""), std::string::npos);
}

}  // namespace
}  // namespace ew::rest
