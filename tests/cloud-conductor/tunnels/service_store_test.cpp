#include "cloud-conductor/tunnels/service_store.hpp"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "cloud-conductor/registry/store.hpp"

namespace ew::conductor::tunnels {
namespace {

class ServiceStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("ew-services-" + std::to_string(::getpid()) + ".db");
    std::filesystem::remove(path_);
    auto registry = registry::OpenSqliteStore(path_.string());
    ASSERT_TRUE(registry) << registry.error().message;
    registry_ = std::move(*registry);
    for (const char* id : {"prj-a", "prj-b"}) {
      edgewire::v1::Project project;
      project.set_id(id);
      project.set_name(id);
      ASSERT_TRUE(registry_->CreateProject(project));
    }
    for (auto [id, project] : {std::pair{"brd-a", "prj-a"}, std::pair{"brd-b", "prj-b"}}) {
      edgewire::v1::Board board;
      board.set_id(id);
      board.set_name(id);
      board.set_project_id(project);
      ASSERT_TRUE(registry_->CreateBoard(board, std::string("code-") + id, 0));
    }
    auto store = ServiceStore::Open(path_.string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    registry_.reset();
    std::filesystem::remove(path_);
  }

  static Service Make(const char* id, const char* board, const char* project, uint16_t port) {
    Service s;
    s.id = id;
    s.board_id = board;
    s.project_id = project;
    s.board_port = 22;
    s.conductor_port = port;
    s.max_connections = 5;
    s.allow_cidrs = {"10.0.0.0/8", "::1/128"};
    s.created_at = 100;
    return s;
  }

  std::filesystem::path path_;
  std::unique_ptr<registry::Store> registry_;
  std::unique_ptr<ServiceStore> store_;
};

TEST_F(ServiceStoreTest, InsertGetListDelete) {
  ASSERT_TRUE(store_->Insert(Make("svc-1", "brd-a", "prj-a", 20001)));
  ASSERT_TRUE(store_->Insert(Make("svc-2", "brd-b", "prj-b", 20002)));
  auto got = store_->Get("svc-1");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->board_id, "brd-a");
  EXPECT_EQ(got->conductor_port, 20001);
  EXPECT_EQ(got->max_connections, 5);
  EXPECT_EQ(got->allow_cidrs, (std::vector<std::string>{"10.0.0.0/8", "::1/128"}));
  EXPECT_EQ(store_->List("")->size(), 2u);
  auto of_a = store_->List("prj-a");
  ASSERT_EQ(of_a->size(), 1u);
  EXPECT_EQ(of_a->front().id, "svc-1");
  ASSERT_TRUE(store_->Delete("svc-1"));
  EXPECT_EQ(store_->Get("svc-1").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->Delete("svc-1").error().code, ErrorCode::kNotFound);
}

TEST_F(ServiceStoreTest, APortIsOneServicesAndTheBoardMustExist) {
  ASSERT_TRUE(store_->Insert(Make("svc-1", "brd-a", "prj-a", 20001)));
  auto taken = store_->Insert(Make("svc-2", "brd-a", "prj-a", 20001));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kConflict);
  auto orphan = store_->Insert(Make("svc-3", "brd-gone", "prj-a", 20003));
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->List("")->size(), 1u);
}

TEST_F(ServiceStoreTest, ADeletedBoardTakesItsServicesAlong) {
  ASSERT_TRUE(store_->Insert(Make("svc-1", "brd-a", "prj-a", 20001)));
  ASSERT_TRUE(registry_->DeleteBoard("brd-a"));
  EXPECT_EQ(store_->List("")->size(), 0u);
}

// Connect-only services (listen false, schema v10): stored without a conductor port (NULL), any
// number of them, and read back as such; listening services' ports stay one service's each.
TEST_F(ServiceStoreTest, ConnectOnlyServicesHaveNoPort) {
  ASSERT_TRUE(store_->Insert(Make("svc-1", "brd-a", "prj-a", 20001)));
  for (const char* id : {"svc-2", "svc-3"}) {
    Service s = Make(id, "brd-a", "prj-a", 0);
    s.listen = false;
    s.allow_cidrs.clear();
    auto stored = store_->Insert(s);
    ASSERT_TRUE(stored) << stored.error().message;
  }
  auto got = store_->Get("svc-2");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_FALSE(got->listen);
  EXPECT_EQ(got->conductor_port, 0);
  EXPECT_EQ(got->board_port, 22);
  auto listening = store_->Get("svc-1");
  ASSERT_TRUE(listening);
  EXPECT_TRUE(listening->listen);
  EXPECT_EQ(listening->conductor_port, 20001);
  EXPECT_EQ(store_->List("prj-a")->size(), 3u);
  auto taken = store_->Insert(Make("svc-4", "brd-a", "prj-a", 20001));
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kConflict);
  // The service store reads the file a restarted conductor opens: the same answer.
  store_.reset();
  auto reopened = ServiceStore::Open(path_.string());
  ASSERT_TRUE(reopened) << reopened.error().message;
  store_ = std::move(*reopened);
  auto again = store_->Get("svc-3");
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->listen);
}

}  // namespace
}  // namespace ew::conductor::tunnels
