#include "cloud-conductor/cli/deployment_watch.hpp"

#include <gtest/gtest.h>

namespace ew::cli {
namespace {

using nlohmann::json;
using Lines = std::vector<std::string>;

json Deployments(const std::string& b1, const std::string& b2) {
  json out = json::array();
  if (!b1.empty()) out.push_back({{"boardId", "brd-1"}, {"state", b1}});
  if (!b2.empty()) out.push_back({{"boardId", "brd-2"}, {"state", b2}});
  return out;
}

TEST(DeploymentWatchTest, PrintsALinePerStateChange) {
  DeploymentWatch watch({"brd-1", "brd-2"}, {{"brd-1", "pi-1"}});
  EXPECT_EQ(watch.Update(Deployments("pending", "pending")), (Lines{"pi-1 pending", "brd-2 pending"}));
  EXPECT_FALSE(watch.finished());
  EXPECT_EQ(watch.Update(Deployments("pending", "pending")), Lines{});
  EXPECT_EQ(watch.Update(Deployments("deploying", "pending")), Lines{"pi-1 deploying"});
  EXPECT_EQ(watch.Update(Deployments("deployed", "deploying")), (Lines{"pi-1 deployed", "brd-2 deploying"}));
  EXPECT_EQ(watch.Unfinished(), Lines{"brd-2 deploying"});
  EXPECT_EQ(watch.Update(Deployments("deployed", "deployed")), Lines{"brd-2 deployed"});
  EXPECT_TRUE(watch.finished());
  EXPECT_TRUE(watch.all_deployed());
  EXPECT_TRUE(watch.Failed().empty());
}

TEST(DeploymentWatchTest, FailedIsFinalAndCarriesTheError) {
  DeploymentWatch watch({"brd-1", "brd-2"}, {});
  json answer = Deployments("deployed", "");
  answer.push_back({{"boardId", "brd-2"}, {"state", "failed"}, {"error", "sha256 mismatch"}});
  EXPECT_EQ(watch.Update(answer), (Lines{"brd-1 deployed", "brd-2 failed: sha256 mismatch"}));
  EXPECT_TRUE(watch.finished());
  EXPECT_FALSE(watch.all_deployed());
  EXPECT_EQ(watch.Failed(), Lines{"brd-2: sha256 mismatch"});
}

TEST(DeploymentWatchTest, UnlistedBoardsArePendingAndOthersIgnored) {
  DeploymentWatch watch({"brd-1", "brd-2", "brd-1"}, {});
  json answer = Deployments("deployed", "");
  answer.push_back({{"boardId", "brd-9"}, {"state", "failed"}});
  EXPECT_EQ(watch.Update(answer), Lines{"brd-1 deployed"});
  EXPECT_FALSE(watch.finished());
  EXPECT_EQ(watch.Unfinished(), Lines{"brd-2 pending"});
  EXPECT_EQ(watch.Update(json::object()), Lines{});  // not an array: ignored
}

TEST(DeploymentWatchTest, NoBoardsIsFinished) {
  DeploymentWatch watch({}, {});
  EXPECT_TRUE(watch.finished());
  EXPECT_TRUE(watch.all_deployed());
}

}  // namespace
}  // namespace ew::cli
