// The `board` commands against a fake conductor: every command takes a board's name where it
// takes its id (issue 11: `board ping|show` refused the names `gpio` and `fn --board` accept),
// and listings follow nextCursor so that every page is shown.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cloud-conductor/cli/board_admin_commands.hpp"
#include "cloud-conductor/cli/board_names.hpp"
#include "cloud-conductor/cli/package_commands.hpp"
#include "cloud-conductor/cli/package_signing.hpp"
#include "common/ids/ids.hpp"
#include "cloud-conductor/cli/commands.hpp"
#include "cloud-conductor/cli/paged_list.hpp"
#include "tests/cloud-conductor/cli/command_fixture.hpp"

namespace ew::cli {
namespace {

class BoardCommandsTest : public testing::CommandFixture {
 protected:
  void SetUp() override {
    CommandFixture::SetUp();
    // Two pages: the names of the second page must resolve too.
    fake_.Route("GET /v1/boards", 200,
                R"({"boards":[{"id":"brd-1","name":"pi-1","status":"online"}],"nextCursor":"c-1"})");
    fake_.Route("GET /v1/boards?cursor=c-1", 200,
                R"({"boards":[{"id":"brd-2","name":"pi-2","status":"offline"},{"id":"brd-3","name":"twin"},)"
                R"({"id":"brd-4","name":"twin"}]})");
  }
};

TEST_F(BoardCommandsTest, Issue11EveryBoardCommandTakesNames) {
  fake_.Route("POST /v1/boards/brd-2/calls/sys.ping", 200, R"({"args":[],"kwargs":{},"durationMs":1.5})");
  ASSERT_TRUE(Run([](Context& c) { return BoardPing(c, "pi-2"); }));
  EXPECT_EQ(out_.rfind("pong from pi-2: ", 0), 0u) << out_;

  fake_.Route("GET /v1/boards/brd-1", 200, R"({"id":"brd-1","name":"pi-1","status":"online","projectId":"prj-1"})");
  ASSERT_TRUE(Run([](Context& c) { return BoardShow(c, "pi-1"); }));
  EXPECT_NE(out_.find("brd-1"), std::string::npos) << out_;

  fake_.Route("POST /v1/boards/brd-2/calls/sys.info", 200, R"({"args":[],"kwargs":{"hostname":"pi"}})");
  ASSERT_TRUE(Run([](Context& c) { return BoardCall(c, "pi-2", "sys.info", {}, "", 0); }));
  EXPECT_EQ(fake_.requests("POST /v1/boards/brd-2/calls/sys.info").size(), 1u);

  fake_.Route("DELETE /v1/boards/brd-1", 204, "");
  ASSERT_TRUE(Run([](Context& c) { return BoardDelete(c, "pi-1"); }));
  EXPECT_EQ(out_, "board pi-1 (brd-1) deleted\n");

  // Ids pass as they are; a shared name is refused with the ids to choose from.
  fake_.Route("POST /v1/boards/brd-3/calls/sys.ping", 200, R"({"durationMs":1})");
  ASSERT_TRUE(Run([](Context& c) { return BoardPing(c, "brd-3"); }));
  auto twin = Run([](Context& c) { return BoardPing(c, "twin"); });
  ASSERT_FALSE(twin);
  EXPECT_NE(twin.error().message.find("brd-3, brd-4"), std::string::npos) << twin.error().message;
  // The same resolution as `gpio` and `fn --board`.
  ASSERT_TRUE(Run([](Context& c) -> Result<void> {
    EW_TRY(std::string id, BoardNames::Resolve(c, "pi-2"));
    EXPECT_EQ(id, "brd-2");
    return Ok();
  }));
}

TEST_F(BoardCommandsTest, ListShowsEveryPage) {
  ASSERT_TRUE(Run([](Context& c) { return BoardList(c, ""); }));
  for (const char* name : {"pi-1", "pi-2", "twin"}) EXPECT_NE(out_.find(name), std::string::npos) << out_;
  EXPECT_EQ(fake_.requests("GET /v1/boards?cursor=c-1").size(), 1u);
  // --json prints one listing of every page, without a cursor.
  ASSERT_TRUE(Run([](Context& c) { return BoardList(c, ""); }, /*json=*/true));
  auto listing = nlohmann::json::parse(out_);
  EXPECT_EQ(listing["boards"].size(), 4u);
  EXPECT_FALSE(listing.contains("nextCursor"));
  // A project filter keeps its query; the cursor is added to it.
  fake_.Route("GET /v1/boards?project=prj-1", 200, R"({"boards":[{"id":"brd-1","name":"pi-1"}],"nextCursor":"p/2"})");
  fake_.Route("GET /v1/boards?project=prj-1&cursor=p%2F2", 200, R"({"boards":[{"id":"brd-2","name":"pi-2"}]})");
  ASSERT_TRUE(Run([](Context& c) { return BoardList(c, "prj-1"); }));
  EXPECT_NE(out_.find("pi-2"), std::string::npos) << out_;
}

TEST_F(BoardCommandsTest, AConductorThatRepeatsACursorIsNotFollowedForever) {
  fake_.Route("GET /v1/fleets", 200, R"({"fleets":[],"nextCursor":"same"})");
  fake_.Route("GET /v1/fleets?cursor=same", 200, R"({"fleets":[],"nextCursor":"same"})");
  auto listed = Run([](Context& c) -> Result<void> {
    EW_TRY_VOID(GetAllPages(c, "/v1/fleets", "fleets"));
    return Ok();
  });
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, ErrorCode::kInternal);
  EXPECT_EQ(fake_.requests("GET /v1/fleets?cursor=same").size(), 1u);
}

// Signed agent updates (issue 16 review): `board update` uploads the package with the signature
// `package sign` wrote (or makes one with --sign-key), and uploads nothing without one.
TEST_F(BoardCommandsTest, UpdateUploadsThePackageWithItsSignatureAndNothingUnsigned) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / ("board-update-" + ids::NewId("t"));
  fs::create_directories(dir);
  const std::string deb_path = (dir / "edgewire-agent_0.1.0-2_arm64.deb").string();
  const std::string deb = "!<arch>\nnot parsed by the CLI";
  std::ofstream(deb_path, std::ios::binary) << deb;
  ASSERT_TRUE(Run([&](Context& c) { return PackageKeygen(c, (dir / "op").string()); }));
  BoardUpdateOptions options;
  options.board = "pi-1";
  options.deb = deb_path;
  options.wait = false;

  auto unsigned_update = Run([&](Context& c) { return BoardUpdate(c, options); });
  ASSERT_FALSE(unsigned_update);
  EXPECT_EQ(unsigned_update.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(unsigned_update.error().message.find("package sign"), std::string::npos) << unsigned_update.error().message;

  ASSERT_TRUE(Run([&](Context& c) { return PackageSign(c, (dir / "op.key").string(), deb_path, ""); }));
  ASSERT_TRUE(Run([&](Context& c) { return PackageVerify(c, (dir / "op.pem").string(), deb_path, ""); }));
  std::ifstream sig_in(deb_path + ".sig", std::ios::binary);
  const std::string signature((std::istreambuf_iterator<char>(sig_in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(signature.size(), 64u);
  const std::string upload = "POST /v1/agent-packages?signature=" + ids::Base64Url(signature);
  fake_.Route(upload, 201, R"({"sha256":"ab","version":"0.1.0-2"})");
  fake_.Route("POST /v1/agent-updates", 201, R"({"id":"upd-1","boards":[{"boardId":"brd-1"}]})");
  ASSERT_TRUE(Run([&](Context& c) { return BoardUpdate(c, options); }));
  ASSERT_EQ(fake_.requests(upload).size(), 1u);
  EXPECT_EQ(fake_.requests(upload)[0].body, deb);

  // --sign-key signs in memory: Ed25519 is deterministic, so the same signature.
  fs::remove(deb_path + ".sig");
  options.sign_key = (dir / "op.key").string();
  ASSERT_TRUE(Run([&](Context& c) { return BoardUpdate(c, options); }));
  EXPECT_EQ(fake_.requests(upload).size(), 2u);
  // Tampered after signing: the CLI's own check says so, as the board will.
  std::ofstream(deb_path, std::ios::binary | std::ios::app) << "x";
  ASSERT_TRUE(Run([&](Context& c) { return PackageSign(c, (dir / "op.key").string(), deb_path, ""); }));
  std::ofstream(deb_path, std::ios::binary | std::ios::app) << "y";
  auto tampered = Run([&](Context& c) { return PackageVerify(c, (dir / "op.pem").string(), deb_path, ""); });
  ASSERT_FALSE(tampered);
  EXPECT_EQ(tampered.error().code, ErrorCode::kPermissionDenied);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ew::cli
