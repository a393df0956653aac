#include "cloud-conductor/cli/board_names.hpp"

#include <gtest/gtest.h>

namespace ew::cli {
namespace {

TEST(BoardNamesTest, IdsNamesAndAmbiguity) {
  BoardNames names(nlohmann::json::parse(R"([
    {"id":"brd-1","name":"pi-1"}, {"id":"brd-2","name":"twin"}, {"id":"brd-3","name":"twin"},
    {"id":"brd-4","name":"brd-1"}
  ])"));
  EXPECT_EQ(*names.Id("brd-2"), "brd-2");
  EXPECT_EQ(*names.Id("pi-1"), "brd-1");
  EXPECT_EQ(*names.Id("brd-1"), "brd-1") << "an id wins over a name";
  EXPECT_EQ(*names.Id("unknown"), "unknown") << "the API judges what nobody is called";
  auto twin = names.Id("twin");
  ASSERT_FALSE(twin);
  EXPECT_EQ(twin.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(twin.error().message.find("brd-2, brd-3"), std::string::npos) << twin.error().message;
  EXPECT_FALSE(names.Ids({"pi-1", "twin"}));
  EXPECT_EQ(*names.Ids({"pi-1", "brd-3"}), (std::vector<std::string>{"brd-1", "brd-3"}));
  const std::map<std::string, std::string> labels = {{"brd-1", "pi-1"}, {"brd-4", "brd-1"}};
  EXPECT_EQ(names.Labels(), labels) << "shared names label nothing";
}

TEST(BoardNamesTest, EmptyPassesThrough) {
  BoardNames names;
  EXPECT_EQ(*names.Id("pi-1"), "pi-1");
  EXPECT_TRUE(names.Labels().empty());
}

}  // namespace
}  // namespace ew::cli
