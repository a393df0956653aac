// A RestApi driven in-process: a real in-memory SQLite store, a ManualClock, a real blocking
// pool and a FakeBoardGateway. Send() calls Handle() and waits for the answer.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloud-conductor/auth/authenticator.hpp"
#include "cloud-conductor/registry/store.hpp"
#include "cloud-conductor/rest/rest_api.hpp"
#include "common/clock/clock.hpp"
#include "common/config/config.hpp"
#include "common/ids/ids.hpp"
#include "common/metrics/metrics.hpp"
#include "tests/support/fake_board_gateway.hpp"

namespace ew::rest {

class RestApiTest : public ::testing::Test {
 protected:
  static constexpr char kPassword[] = "correct horse battery";

  RestApiTest() {
    config_.store_path = ":memory:";
    config_.enrolment_code_ttl = std::chrono::hours(1);
    config_.call_timeout = std::chrono::seconds(7);
    auto store = registry::OpenSqliteStore(":memory:");
    if (!store) throw std::runtime_error("cannot open the store: " + store.error().message);
    store_ = std::move(*store);
    auth_ = std::make_unique<auth::Authenticator>(*store_, clock_, config_.token_ttl);
    api_ = std::make_unique<RestApi>(RestDeps{*store_, *auth_, gateway_, metrics_, pool_, config_, clock_});

    project_a_ = AddProject("alpha");
    project_b_ = AddProject("beta");
    AddUser("root", project_a_, "admin");
    AddUser("alice", project_a_, "operator");
    AddUser("bob", project_b_, "operator");
    admin_ = Login("root");
    alice_ = Login("alice");
    bob_ = Login("bob");
  }

  ~RestApiTest() override { pool_.join(); }

  std::string AddProject(const std::string& name) {
    edgewire::v1::Project project;
    project.set_id(ids::NewId("prj"));
    project.set_name(name);
    project.set_created_at(UnixSeconds(clock_.Now()));
    EXPECT_TRUE(store_->CreateProject(project));
    return project.id();
  }

  // A cheap hash (1000 iterations) keeps the fixture fast; VerifyPassword reads the cost from it.
  std::string AddUser(const std::string& name, const std::string& project, const std::string& role) {
    edgewire::v1::User user;
    user.set_id(ids::NewId("usr"));
    user.set_name(name);
    user.set_project_id(project);
    user.set_role(role);
    user.set_created_at(UnixSeconds(clock_.Now()));
    EXPECT_TRUE(store_->CreateUser(user, ids::HashPassword(kPassword, 1000)));
    return user.id();
  }

  server::HttpResponse Send(const std::string& method, const std::string& target, const std::string& body = "",
                            const std::string& token = "") {
    server::HttpRequest request;
    request.method = method;
    request.target = target;
    size_t question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos) {
      std::string query = target.substr(question + 1);
      size_t start = 0;
      while (start < query.size()) {
        size_t end = query.find('&', start);
        if (end == std::string::npos) end = query.size();
        std::string pair = query.substr(start, end - start);
        size_t eq = pair.find('=');
        request.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
        start = end + 1;
      }
    }
    if (!token.empty()) request.headers["x-auth-token"] = token;
    request.headers["host"] = "conductor.test:8080";
    request.body = body;
    request.peer = "127.0.0.1:50000";
    return Handle(std::move(request));
  }

  server::HttpResponse Handle(server::HttpRequest request) {
    auto answer = std::make_shared<std::promise<server::HttpResponse>>();
    auto future = answer->get_future();
    api_->Handle(std::move(request), [answer](server::HttpResponse response) { answer->set_value(std::move(response)); });
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      ADD_FAILURE() << "no answer";
      server::HttpResponse none;
      none.status = 0;
      none.content_type.clear();
      return none;
    }
    return future.get();
  }

  static nlohmann::json Json(const server::HttpResponse& response) {
    return nlohmann::json::parse(response.body, nullptr, false);
  }
  static std::string ErrorCodeOf(const server::HttpResponse& response) {
    auto body = Json(response);
    if (!body.is_object() || !body.contains("error")) return "<no error body: " + response.body + ">";
    return body["error"].value("code", "");
  }
  static std::string ErrorMessageOf(const server::HttpResponse& response) {
    auto body = Json(response);
    if (!body.is_object() || !body.contains("error")) return "<no error body: " + response.body + ">";
    return body["error"].value("message", "");
  }

  std::string Login(const std::string& name) {
    auto response = Send("POST", "/v1/auth/tokens",
                         nlohmann::json{{"username", name}, {"password", kPassword}}.dump());
    EXPECT_EQ(response.status, 201) << response.body;
    return Json(response).value("token", "");
  }

  // Creates a board through the API; returns {id, enrolment code}.
  std::pair<std::string, std::string> CreateBoard(const std::string& name, const std::string& token,
                                                  const std::string& project = "") {
    nlohmann::json body = {{"name", name}};
    if (!project.empty()) body["projectId"] = project;
    auto response = Send("POST", "/v1/boards", body.dump(), token);
    EXPECT_EQ(response.status, 201) << response.body;
    auto json = Json(response);
    return {json["board"].value("id", ""), json.value("enrolmentCode", "")};
  }

  size_t BoardCount() {
    auto boards = store_->ListBoards("", {registry::kMaxPageLimit, ""});
    return boards ? boards->items.size() : 0;
  }
  size_t UserCount() {
    auto users = store_->ListUsers("", {registry::kMaxPageLimit, ""});
    return users ? users->items.size() : 0;
  }

  config::ConductorConfig config_;
  ManualClock clock_;
  metrics::Registry metrics_;
  testing::FakeBoardGateway gateway_;
  std::unique_ptr<registry::Store> store_;
  std::unique_ptr<auth::Authenticator> auth_;
  std::unique_ptr<RestApi> api_;
  // Declared last so that it is destroyed (joined) first.
  boost::asio::thread_pool pool_{2};
  std::string project_a_, project_b_;
  std::string admin_, alice_, bob_;
};

}  // namespace ew::rest
