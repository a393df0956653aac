// An in-memory router::Transport that records what the router sends, decoded, for router tests.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "cloud-conductor/router/transport.hpp"
#include "common/wamp/codec.hpp"

namespace ew::testing {

class FakeTransport final : public router::Transport {
 public:
  explicit FakeTransport(wamp::Serializer serializer = wamp::Serializer::kJson) : serializer_(serializer) {}

  void Send(std::string frame) override {
    if (!closed) frames.push_back(std::move(frame));
  }
  void Close(const std::string& reason) override {
    closed = true;
    close_reason = reason;
  }
  wamp::Serializer serializer() const override { return serializer_; }
  const std::string& peer() const override { return peer_; }
  std::optional<wamp::HeartbeatTerms> TellHeartbeat() override { return heartbeat_terms; }

  // Pops the oldest frame the router sent, decoded. Fails the test when there is none.
  wamp::Message Next() {
    if (frames.empty()) throw std::runtime_error("router sent nothing");
    auto decoded = wamp::Decode(serializer_, frames.front());
    frames.pop_front();
    if (!decoded) throw std::runtime_error("router sent an undecodable frame: " + decoded.error().message);
    return std::move(*decoded);
  }
  template <typename T>
  T Next() {
    auto message = Next();
    if (!std::holds_alternative<T>(message))
      throw std::runtime_error(std::string("expected another message, got ") + wamp::TypeName(wamp::TypeOf(message)));
    return std::get<T>(std::move(message));
  }

  std::deque<std::string> frames;
  bool closed = false;
  std::string close_reason;
  std::optional<wamp::HeartbeatTerms> heartbeat_terms;  // what TellHeartbeat() says (none by default)

 private:
  wamp::Serializer serializer_;
  std::string peer_ = "test:1";
};

}  // namespace ew::testing
