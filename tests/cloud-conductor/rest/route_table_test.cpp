#include "cloud-conductor/rest/route_table.hpp"

#include <gtest/gtest.h>

namespace ew::rest {
namespace {

RouteTable Table() {
  RouteTable table;
  for (auto [method, pattern] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/boards"},
           {"POST", "/v1/boards"},
           {"GET", "/v1/boards/{id}"},
           {"DELETE", "/v1/boards/{id}"},
           {"POST", "/v1/boards/{id}/calls/{procedure}"},
           {"GET", "/healthz"}}) {
    table.Add({method, pattern, Access::kToken, Execution::kBlocking, nullptr});
  }
  return table;
}

TEST(RouteTableTest, MatchesLiteralsAndParams) {
  auto table = Table();
  auto match = table.Find("POST", "/v1/boards/brd-1/calls/sys.ping");
  ASSERT_NE(match.route, nullptr);
  EXPECT_EQ(match.pattern, "/v1/boards/{id}/calls/{procedure}");
  EXPECT_EQ(match.params.at("id"), "brd-1");
  EXPECT_EQ(match.params.at("procedure"), "sys.ping");

  match = table.Find("GET", "/v1/boards");
  ASSERT_NE(match.route, nullptr);
  EXPECT_TRUE(match.params.empty());
}

TEST(RouteTableTest, WrongMethodListsTheAllowedOnes) {
  auto match = Table().Find("PATCH", "/v1/boards/brd-1");
  EXPECT_EQ(match.route, nullptr);
  EXPECT_EQ(match.allowed, (std::vector<std::string>{"GET", "DELETE"}));
  EXPECT_EQ(match.pattern, "/v1/boards/{id}");
}

TEST(RouteTableTest, UnknownPathsMatchNothing) {
  auto table = Table();
  for (const std::string path : {"", "v1/boards", "/", "/v1", "/v1/boards//calls/x", "/v1/boards/a/calls/",
                                 "/v1/boards/a/b", "/healthz/x"}) {
    auto match = table.Find("GET", path);
    EXPECT_EQ(match.route, nullptr) << path;
    EXPECT_TRUE(match.allowed.empty()) << path;
  }
}

}  // namespace
}  // namespace ew::rest
