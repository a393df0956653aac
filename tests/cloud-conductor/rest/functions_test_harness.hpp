// RestApiTest with serverless functions enabled: a FunctionsService over a private in-memory
// FunctionStore, the fixture's FakeBoardGateway and pool, an io thread for its timers and a
// scratch packages directory; no cloud runtime. Helpers upload packages made as the CLI makes
// them.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "cloud-conductor/functions/functions_service.hpp"
#include "containers/package/package.hpp"
#include "tests/cloud-conductor/rest/rest_test_harness.hpp"

namespace ew::rest {

class FunctionsApiTest : public RestApiTest {
 protected:
  FunctionsApiTest() {
    scratch_ = std::filesystem::temp_directory_path() / ids::NewId("ew-fnrest");
    std::filesystem::create_directories(scratch_);
    auto store = functions::FunctionStore::Open(":memory:");
    if (!store) throw std::runtime_error("cannot open the function store: " + store.error().message);
    function_store_ = std::move(*store);
    io_thread_ = std::thread([this] { io_.run(); });
    functions::FunctionsOptions options;
    options.dir = scratch_ / "functions";
    options.cloud_runtime = "none";
    service_ = std::make_unique<functions::FunctionsService>(*function_store_, gateway_, pool_, io_.get_executor(),
                                                             clock_, options);
    if (!service_->Start()) throw std::runtime_error("cannot start the functions service");
    api_ = std::make_unique<RestApi>(
        RestDeps{*store_, *auth_, gateway_, metrics_, pool_, config_, clock_, service_.get()});
  }

  ~FunctionsApiTest() override {
    pool_.join();  // nothing of the service may run after this
    service_.reset();
    work_.reset();
    io_.stop();
    io_thread_.join();
    std::error_code ec;
    std::filesystem::remove_all(scratch_, ec);
  }

  static nlohmann::json Spec(const std::string& name, const std::string& version = "1.0.0") {
    return {{"name", name}, {"version", version}, {"runtime", "sh"}, {"entrypoint", "main.sh"}, {"timeoutMs", 3000}};
  }

  std::string Package(const nlohmann::json& spec, const std::string& script = "echo '{}'\n") {
    const auto dir = scratch_ / ids::NewId("src");
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "function.json") << spec.dump();
    std::ofstream(dir / "main.sh") << script;
    auto packed = containers::PackDirectory(dir);
    EXPECT_TRUE(packed) << packed.error().message;
    return packed ? *packed : std::string();
  }

  server::HttpResponse SendRaw(const std::string& method, const std::string& target, const std::string& body,
                               const std::string& content_type, const std::string& token) {
    server::HttpRequest request;
    request.method = method;
    request.target = target;
    request.path = target.substr(0, target.find('?'));
    if (auto q = target.find("?project="); q != std::string::npos) request.query["project"] = target.substr(q + 9);
    request.headers["x-auth-token"] = token;
    request.headers["content-type"] = content_type;
    request.body = body;
    request.peer = "127.0.0.1:50000";
    return Handle(std::move(request));
  }

  // Uploads and returns the function record (201 expected).
  nlohmann::json Upload(const nlohmann::json& spec, const std::string& token,
                        const std::string& script = "echo '{}'\n") {
    auto response = SendRaw("POST", "/v1/functions", Package(spec, script), "application/gzip", token);
    EXPECT_EQ(response.status, 201) << response.body;
    return Json(response);
  }

  std::filesystem::path scratch_;
  std::unique_ptr<functions::FunctionStore> function_store_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{io_.get_executor()};
  std::thread io_thread_;
  std::unique_ptr<functions::FunctionsService> service_;
};

}  // namespace ew::rest
