// TunnelManager's services against a real store and real listening sockets on 127.0.0.1; the
// board is a FakeBoardGateway (the splice and the agent run in tests/integration/test_tunnels.py).
#include "cloud-conductor/tunnels/tunnel_manager.hpp"

#include <unistd.h>

#include <filesystem>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "cloud-conductor/registry/store.hpp"
#include "common/clock/clock.hpp"
#include "common/metrics/metrics.hpp"
#include "tests/support/fake_board_gateway.hpp"

namespace ew::conductor::tunnels {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

class TunnelManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("ew-tunnel-manager-" + std::to_string(::getpid()) + ".db");
    std::filesystem::remove(path_);
    auto registry = registry::OpenSqliteStore(path_.string());
    ASSERT_TRUE(registry) << registry.error().message;
    registry_ = std::move(*registry);
    edgewire::v1::Project project;
    project.set_id("prj-a");
    project.set_name("prj-a");
    ASSERT_TRUE(registry_->CreateProject(project));
    edgewire::v1::Board board;
    board.set_id("brd-a");
    board.set_name("brd-a");
    board.set_project_id("prj-a");
    ASSERT_TRUE(registry_->CreateBoard(board, "code-brd-a", 0));
    auto store = ServiceStore::Open(path_.string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    TunnelOptions options;
    options.port_first = 0;  // whatever free port the OS gives
    manager_ = std::make_unique<TunnelManager>(io_, *store_, gateway_, clock_, metrics_, options);
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    registry_.reset();
    std::filesystem::remove(path_);
  }

  static Service Spec(const std::string& id) {
    Service s;
    s.id = id;
    s.board_id = "brd-a";
    s.project_id = "prj-a";
    s.board_port = 22;
    return s;
  }

  // Whether a TCP connection to 127.0.0.1:port is accepted by the kernel (a listening socket).
  static bool Listening(uint16_t port) {
    net::io_context io;
    tcp::socket socket(io);
    boost::system::error_code ec;
    socket.connect(tcp::endpoint(net::ip::address_v4::loopback(), port), ec);
    return !ec;
  }

  net::io_context io_;
  ManualClock clock_;
  metrics::Registry metrics_;
  ew::testing::FakeBoardGateway gateway_;
  std::filesystem::path path_;
  std::unique_ptr<registry::Store> registry_;
  std::unique_ptr<ServiceStore> store_;
  std::unique_ptr<TunnelManager> manager_;
};

TEST_F(TunnelManagerTest, ACreatedServiceListensAndDeleteClosesIt) {
  auto created = manager_->Create(Spec("svc-1"));
  ASSERT_TRUE(created) << created.error().message;
  const uint16_t port = created->service.conductor_port;
  io_.run_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(Listening(port));
  ASSERT_TRUE(manager_->Delete("svc-1"));
  io_.restart();
  io_.run_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(Listening(port));
}

// Review 3, L6: the board is deleted (its service's row goes with it, and the conductor tells the
// manager, CloseBoard) after the service's row was inserted and before its listener was
// published, so CloseBoard finds nothing to close. Create must see the row gone, close its
// listener and fail: no port keeps listening for a board that no longer exists.
TEST_F(TunnelManagerTest, Review3ABoardDeletedWhileItsServiceIsCreatedLeavesNoListener) {
  uint16_t port = 0;
  manager_->SetAfterInsertForTest([&](const Service& spec) {
    port = spec.conductor_port;
    ASSERT_TRUE(registry_->DeleteBoard("brd-a"));
    manager_->CloseBoard("brd-a");
  });
  auto created = manager_->Create(Spec("svc-raced"));
  ASSERT_FALSE(created) << "created service on port " << created->service.conductor_port;
  EXPECT_EQ(created.error().code, ErrorCode::kNotFound) << created.error().message;
  ASSERT_NE(port, 0);
  io_.run_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(Listening(port));
  EXPECT_EQ(manager_->List("")->size(), 0u);
  EXPECT_EQ(manager_->States({Spec("svc-raced")}).front().state, "error");  // no listener kept for it
}

// Connect-only (listen false): stored with no port and reported "connect-only", by the manager
// that created it and by one started on the same store (a conductor restart), which binds nothing
// for it and keeps serving its listening services; Delete removes it.
TEST_F(TunnelManagerTest, AConnectOnlyServiceOpensNoPortAndSurvivesARestart) {
  Service spec = Spec("svc-conn");
  spec.listen = false;
  auto created = manager_->Create(spec);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->state, "connect-only");
  EXPECT_FALSE(created->service.listen);
  EXPECT_EQ(created->service.conductor_port, 0);
  auto listening = manager_->Create(Spec("svc-raw"));
  ASSERT_TRUE(listening) << listening.error().message;
  const uint16_t port = listening->service.conductor_port;
  io_.run_for(std::chrono::milliseconds(20));  // the posted accepts run while their manager lives

  manager_->Stop();
  manager_.reset();
  io_.restart();
  io_.run_for(std::chrono::milliseconds(20));
  TunnelOptions options;
  options.port_first = 0;
  manager_ = std::make_unique<TunnelManager>(io_, *store_, gateway_, clock_, metrics_, options);
  ASSERT_TRUE(manager_->Start());
  io_.restart();
  io_.run_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(Listening(port));
  auto again = manager_->Get("svc-conn");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->state, "connect-only");
  EXPECT_TRUE(again->error.empty()) << again->error;
  EXPECT_EQ(again->service.board_port, 22);
  EXPECT_EQ(manager_->Get("svc-raw")->state, "listening");
  ASSERT_TRUE(manager_->Delete("svc-conn"));
  EXPECT_EQ(manager_->Get("svc-conn").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(manager_->List("prj-a")->size(), 1u);
}

// The same window for a connect-only service: nothing to leave listening, but the caller is not
// told of a service that went with its board.
TEST_F(TunnelManagerTest, AConnectOnlyServiceOfABoardDeletedMeanwhileIsNotReportedCreated) {
  manager_->SetAfterInsertForTest([&](const Service&) {
    ASSERT_TRUE(registry_->DeleteBoard("brd-a"));
    manager_->CloseBoard("brd-a");
  });
  Service spec = Spec("svc-raced");
  spec.listen = false;
  auto created = manager_->Create(spec);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, ErrorCode::kNotFound) << created.error().message;
  EXPECT_EQ(manager_->List("")->size(), 0u);
}

}  // namespace
}  // namespace ew::conductor::tunnels
