#include "device-agent/enrol/enroller.hpp"

#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ew::agent {
namespace {

namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

// Answers exactly one HTTP request on 127.0.0.1:<random port> with a canned reply and keeps
// what it received.
class FakeConductor {
 public:
  FakeConductor(http::status status, std::string body, bool hang = false)
      : acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this, status, body = std::move(body), hang] {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) return;
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(socket, buffer, request, ec);
      target_ = std::string(request.target());
      method_ = std::string(request.method_string());
      body_ = request.body();
      if (hang) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        return;
      }
      http::response<http::string_body> response{status, 11};
      response.set(http::field::content_type, "application/json");
      response.body() = body;
      response.prepare_payload();
      http::write(socket, response, ec);
    });
  }
  ~FakeConductor() {
    // close() does not wake a thread blocked in accept(): a connection does (it is dropped).
    boost::system::error_code ec;
    tcp::socket wake(io_);
    wake.connect(acceptor_.local_endpoint(), ec);
    wake.close(ec);
    acceptor_.close();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  const std::string& target() const { return target_; }
  const std::string& method() const { return method_; }
  const std::string& body() const { return body_; }

 private:
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::string target_, method_, body_;
};

EnrolRequestOptions Options(const std::string& url) {
  EnrolRequestOptions options;
  options.conductor_url = url;
  options.code = "CODE-1";
  options.hostname = "pi-kitchen";
  options.timeout = std::chrono::seconds(5);
  return options;
}

TEST(EnrollerTest, StoresWhatTheConductorIssues) {
  FakeConductor conductor(http::status::ok, R"({"boardId":"brd-1","secret":"s","realm":"edgewire",
      "wampUrl":"ws://10.0.0.1:8080/ws","salt":"NaCl","iterations":1000,"keylen":32,"futureField":true})");
  auto credential = Enrol(Options(conductor.url()));
  ASSERT_TRUE(credential) << credential.error().message;
  EXPECT_EQ(conductor.method(), "POST");
  EXPECT_EQ(conductor.target(), "/v1/enrol");
  auto sent = nlohmann::json::parse(conductor.body());
  EXPECT_EQ(sent, nlohmann::json({{"code", "CODE-1"}, {"hostname", "pi-kitchen"}}));
  EXPECT_EQ(credential->board_id, "brd-1");
  EXPECT_EQ(credential->secret, "s");
  EXPECT_EQ(credential->realm, "edgewire");
  EXPECT_EQ(credential->wamp_url, "ws://10.0.0.1:8080/ws");
  EXPECT_EQ(credential->salt, "NaCl");
  EXPECT_EQ(credential->iterations, 1000);
  EXPECT_EQ(credential->keylen, 32);
  EXPECT_EQ(credential->conductor_url, conductor.url());
}

TEST(EnrollerTest, DerivesTheWampUrlWhenTheConductorLeavesItOut) {
  FakeConductor conductor(http::status::created, R"({"boardId":"brd-1","secret":"s","realm":"edgewire"})");
  auto credential = Enrol(Options(conductor.url()));
  ASSERT_TRUE(credential) << credential.error().message;
  EXPECT_EQ(credential->wamp_url, "ws://127.0.0.1:" + conductor.url().substr(conductor.url().rfind(':') + 1) + "/ws");
}

TEST(EnrollerTest, RefusalCarriesTheConductorsMessage) {
  FakeConductor conductor(http::status::unauthorized,
                          R"({"error":{"code":"unauthenticated","message":"enrolment code expired"}})");
  auto credential = Enrol(Options(conductor.url()));
  ASSERT_FALSE(credential);
  EXPECT_EQ(credential.error().kind, EnrolFailure::Kind::kRefused);
  EXPECT_EQ(credential.error().http_status, 401);
  EXPECT_EQ(credential.error().message, "enrolment code expired");
}

TEST(EnrollerTest, RefusalWithoutAJsonBody) {
  FakeConductor conductor(http::status::bad_gateway, "<html>proxy error</html>");
  auto credential = Enrol(Options(conductor.url()));
  ASSERT_FALSE(credential);
  EXPECT_EQ(credential.error().kind, EnrolFailure::Kind::kRefused);
  EXPECT_EQ(credential.error().message, "HTTP 502 Bad Gateway");
}

TEST(EnrollerTest, MalformedOrIncompleteRepliesFail) {
  {
    FakeConductor conductor(http::status::ok, "not json");
    auto credential = Enrol(Options(conductor.url()));
    ASSERT_FALSE(credential);
    EXPECT_EQ(credential.error().kind, EnrolFailure::Kind::kFailed);
  }
  {
    FakeConductor conductor(http::status::ok, R"({"boardId":"brd-1","realm":"edgewire"})");
    auto credential = Enrol(Options(conductor.url()));
    ASSERT_FALSE(credential);
    EXPECT_NE(credential.error().message.find("secret"), std::string::npos) << credential.error().message;
  }
}

TEST(EnrollerTest, UnreachableAndSlowConductorsFail) {
  std::string url;
  {
    FakeConductor closed(http::status::ok, "");
    url = closed.url();
  }  // port closed now
  auto credential = Enrol(Options(url));
  ASSERT_FALSE(credential);
  EXPECT_EQ(credential.error().kind, EnrolFailure::Kind::kFailed);
  EXPECT_NE(credential.error().message.find("cannot reach"), std::string::npos) << credential.error().message;

  FakeConductor slow(http::status::ok, "", /*hang=*/true);
  auto options = Options(slow.url());
  options.timeout = std::chrono::seconds(1);
  auto started = std::chrono::steady_clock::now();
  credential = Enrol(options);
  ASSERT_FALSE(credential);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1400));
  EXPECT_NE(credential.error().message.find("timed out"), std::string::npos) << credential.error().message;
}

TEST(EnrollerTest, BadOptionsFailWithoutNetwork) {
  auto options = Options("https://h:1");
  EXPECT_FALSE(Enrol(options));
  options = Options("http://h:1");
  options.code = "";
  EXPECT_FALSE(Enrol(options));
}

}  // namespace
}  // namespace ew::agent
