// A raw client of a GpioBroker's socket for tests: sends request lines, reads reply lines with a
// deadline (never blocks a test forever).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ew::containers::testing {

class BrokerClient {
 public:
  explicit BrokerClient(const std::filesystem::path& socket) {
    fd_ = socket_fd(socket);
  }
  ~BrokerClient() {
    if (fd_ >= 0) close(fd_);
  }
  BrokerClient(const BrokerClient&) = delete;
  BrokerClient& operator=(const BrokerClient&) = delete;

  bool connected() const { return fd_ >= 0; }

  bool SendRaw(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  bool Send(const nlohmann::json& request) { return SendRaw(request.dump() + "\n"); }
  // Ends this side's requests (half-close); replies can still be read.
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  // The next reply line, or nullopt at end of file or after `timeout`.
  std::optional<std::string> ReceiveLine(std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto newline = buffer_.find('\n'); newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      ssize_t n = read(fd_, chunk, sizeof(chunk));
      if (n <= 0) {
        eof_ = true;
        return std::nullopt;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  nlohmann::json Receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
    auto line = ReceiveLine(timeout);
    if (!line) return nlohmann::json{{"test", eof_ ? "end of file" : "no reply in time"}};
    return nlohmann::json::parse(*line, nullptr, false);
  }
  nlohmann::json Call(const nlohmann::json& request) {
    if (!Send(request)) return nlohmann::json{{"test", "send failed"}};
    return Receive();
  }
  // True when the broker closed the connection within `timeout`.
  bool SeesEndOfFile(std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
    while (ReceiveLine(timeout)) {
    }
    return eof_;
  }

 private:
  static int socket_fd(const std::filesystem::path& socket) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof(address.sun_path) - 1);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  int fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

// Polls `pred` until it holds or `timeout` passes.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    pollfd none{-1, 0, 0};
    poll(&none, 0, 1);  // yield the core for a millisecond between checks
  }
  return true;
}

}  // namespace ew::containers::testing
