// FakeConductor: a Beast HTTP server on a loopback port that answers the CLI from routes a test
// sets ("GET /v1/functions/fn-1" → status and JSON), records every request, and answers 404
// with the API's error shape for anything else. One connection at a time, kept alive, on its own
// thread; the CLI under test is synchronous, so a test reads requests() after a command returns.
// The CLI's connection must be closed (its Context destroyed) before the FakeConductor is.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ew::cli::testing {

struct FakeRequest {
  std::string method;
  std::string target;
  std::string content_type;
  std::string token;
  std::string body;
};

struct FakeResponse {
  int status = 200;
  std::string body;  // JSON text; "" for none
};

class FakeConductor {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  FakeConductor() {
    acceptor_.open(tcp::v4());
    acceptor_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeConductor() {
    stopping_ = true;
    boost::beast::error_code ignored;
    tcp::socket poke(io_);  // wakes the accept
    poke.connect(acceptor_.local_endpoint(), ignored);
    thread_.join();
  }
  FakeConductor(const FakeConductor&) = delete;
  FakeConductor& operator=(const FakeConductor&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }

  // "METHOD /target" (query included) → handler; a later route replaces an earlier one.
  void Route(const std::string& method_and_target, Handler handler) {
    std::lock_guard<std::mutex> lock(mutex_);
    routes_[method_and_target] = std::move(handler);
  }
  void Route(const std::string& method_and_target, int status, const std::string& body) {
    Route(method_and_target, [status, body](const FakeRequest&) { return FakeResponse{status, body}; });
  }

  std::vector<FakeRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  // The requests whose "METHOD /target" is `key`.
  std::vector<FakeRequest> requests(const std::string& key) const {
    std::vector<FakeRequest> out;
    for (auto& r : requests())
      if (r.method + " " + r.target == key) out.push_back(r);
    return out;
  }

 private:
  using tcp = boost::asio::ip::tcp;

  void Serve() {
    namespace http = boost::beast::http;
    while (true) {
      tcp::socket socket(io_);
      boost::beast::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      boost::beast::flat_buffer buffer;
      while (!stopping_) {
        http::request<http::string_body> request;
        http::read(socket, buffer, request, ec);
        if (ec) break;
        FakeRequest seen{std::string(request.method_string()), std::string(request.target()),
                         std::string(request[http::field::content_type]), std::string(request["X-Auth-Token"]),
                         request.body()};
        FakeResponse answer = Answer(seen);
        http::response<http::string_body> response{static_cast<http::status>(answer.status), 11};
        if (!answer.body.empty()) response.set(http::field::content_type, "application/json");
        response.body() = answer.body;
        response.keep_alive(true);
        response.prepare_payload();
        http::write(socket, response, ec);
        if (ec) break;
      }
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  FakeResponse Answer(const FakeRequest& request) {
    Handler handler;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(request);
      auto it = routes_.find(request.method + " " + request.target);
      if (it != routes_.end()) handler = it->second;
    }
    if (!handler) return {404, R"({"error":{"code":"not_found","message":"no route )" + request.target + "\"}}"};
    return handler(request);
  }

  boost::asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::map<std::string, Handler> routes_;
  std::vector<FakeRequest> requests_;
};

}  // namespace ew::cli::testing
