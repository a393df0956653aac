// The `fleet` commands against a fake conductor: names resolved to ids, one call per board.
#include "cloud-conductor/cli/fleet_commands.hpp"

#include <gtest/gtest.h>

#include "tests/cloud-conductor/cli/command_fixture.hpp"

namespace ew::cli {
namespace {

using nlohmann::json;

constexpr char kFleets[] = R"({"fleets":[{"id":"flt-1","name":"greenhouse","boardIds":["brd-1"]},)"
                           R"({"id":"flt-2","name":"twin","boardIds":[]},{"id":"flt-3","name":"twin"}]})";

class FleetCommandsTest : public testing::CommandFixture {
 protected:
  void SetUp() override {
    CommandFixture::SetUp();
    fake_.Route("GET /v1/fleets", 200, kFleets);
    fake_.Route("GET /v1/fleets/flt-1", 200, R"({"id":"flt-1","name":"greenhouse","boardIds":["brd-1"]})");
    fake_.Route("GET /v1/boards", 200, R"({"boards":[{"id":"brd-1","name":"pi-1"},{"id":"brd-2","name":"pi-2"}]})");
  }
};

TEST_F(FleetCommandsTest, CreateAndList) {
  fake_.Route("POST /v1/fleets", 201, R"({"id":"flt-9","name":"lab","boardIds":[]})");
  ASSERT_TRUE(Run([](Context& c) { return FleetCreate(c, "lab"); }));
  EXPECT_EQ(out_, "fleet lab created: flt-9\n");
  EXPECT_EQ(json::parse(fake_.requests("POST /v1/fleets")[0].body), json({{"name", "lab"}}));
  ASSERT_TRUE(Run([](Context& c) { return FleetList(c); }));
  EXPECT_EQ(out_,
            "ID     NAME        BOARDS\n"
            "flt-1  greenhouse  1\n"
            "flt-2  twin        0\n"
            "flt-3  twin        0\n");
  ASSERT_TRUE(Run([](Context& c) { return FleetList(c); }, /*json=*/true));
  EXPECT_EQ(json::parse(out_), json::parse(kFleets));
}

TEST_F(FleetCommandsTest, AddAndRemoveBoardsByName) {
  fake_.Route("PUT /v1/fleets/flt-1/boards/brd-1", 204, "");
  fake_.Route("PUT /v1/fleets/flt-1/boards/brd-2", 204, "");
  ASSERT_TRUE(Run([](Context& c) { return FleetAddBoards(c, "greenhouse", {"pi-1", "brd-2"}); }));
  EXPECT_EQ(out_, "added brd-1 (pi-1) to fleet greenhouse\nadded brd-2 (pi-2) to fleet greenhouse\n");
  EXPECT_EQ(fake_.requests("PUT /v1/fleets/flt-1/boards/brd-1").size(), 1u);
  EXPECT_EQ(fake_.requests("PUT /v1/fleets/flt-1/boards/brd-2").size(), 1u);

  fake_.Route("DELETE /v1/fleets/flt-1/boards/brd-2", 204, "");
  ASSERT_TRUE(Run([](Context& c) { return FleetRemoveBoards(c, "flt-1", {"pi-2"}); }, /*json=*/true));
  EXPECT_EQ(json::parse(out_)["id"], "flt-1") << "--json prints the fleet afterwards";
  EXPECT_EQ(fake_.requests("DELETE /v1/fleets/flt-1/boards/brd-2").size(), 1u);
}

TEST_F(FleetCommandsTest, AnUnknownBoardIsTheApisError) {
  fake_.Route("PUT /v1/fleets/flt-1/boards/brd-x", 404, R"({"error":{"code":"not_found","message":"no board brd-x"}})");
  auto result = Run([](Context& c) { return FleetAddBoards(c, "flt-1", {"brd-x"}); });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(result.error().message, "no board brd-x");
}

TEST_F(FleetCommandsTest, ShowNamesTheBoards) {
  ASSERT_TRUE(Run([](Context& c) { return FleetShow(c, "greenhouse"); }));
  EXPECT_EQ(out_, "id:         flt-1\nname:       greenhouse\nboards:\n  brd-1 (pi-1)\n");
}

TEST_F(FleetCommandsTest, AmbiguousAndMissingNames) {
  auto twin = Run([](Context& c) { return FleetDelete(c, "twin"); });
  ASSERT_FALSE(twin);
  EXPECT_EQ(twin.error().message, "several fleets are named twin (flt-2, flt-3): give the fleet id");
  auto missing = Run([](Context& c) { return FleetShow(c, "nope"); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  for (const auto& r : fake_.requests()) EXPECT_NE(r.method, "DELETE");
}

TEST_F(FleetCommandsTest, Delete) {
  fake_.Route("DELETE /v1/fleets/flt-1", 204, "");
  ASSERT_TRUE(Run([](Context& c) { return FleetDelete(c, "greenhouse"); }));
  EXPECT_EQ(out_, "fleet greenhouse deleted\n");
  EXPECT_EQ(fake_.requests("DELETE /v1/fleets/flt-1").size(), 1u);
}

}  // namespace
}  // namespace ew::cli
