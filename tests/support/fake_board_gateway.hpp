// An in-memory router::BoardGateway for REST and other conductor tests: boards are online when
// the test says so, calls are recorded and answered by a per-board script (echo by default).
// Header-only. Unlike the router, CallBoard answers synchronously on the caller's thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cloud-conductor/router/board_gateway.hpp"

namespace ew::testing {

class FakeBoardGateway final : public router::BoardGateway {
 public:
  // Answers a call to an online board: (procedure, payload) → result or the board's error.
  using Script = std::function<Result<wamp::Payload>(const std::string& procedure, const wamp::Payload& payload)>;

  struct RecordedCall {
    std::string board_id;
    std::string procedure;
    wamp::Payload payload;
    std::chrono::milliseconds timeout{0};
  };

  void SetOnline(const std::string& board_id, const std::string& peer = "192.0.2.10:40000") {
    std::lock_guard<std::mutex> lock(mutex_);
    router::BoardPresence presence;
    presence.session_id = ++next_session_;
    presence.peer = peer;
    presence.since = std::chrono::system_clock::now();
    online_[board_id] = presence;
  }
  void SetOffline(const std::string& board_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    online_.erase(board_id);
  }
  // Without a script an online board echoes the payload back.
  void SetScript(const std::string& board_id, Script script) {
    std::lock_guard<std::mutex> lock(mutex_);
    scripts_[board_id] = std::move(script);
  }

  // A board that takes calls and never answers them (a hung board): `done` is kept, not called,
  // until Release().
  void SetSilent(const std::string& board_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    silent_.insert(board_id);
  }
  // Answers every call kept by a silent board with Unavailable.
  void Release() {
    std::vector<std::function<void(Result<wamp::Payload>)>> held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held.swap(held_);
    }
    for (auto& done : held) done(Unavailable("released"));
  }

  std::vector<RecordedCall> calls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  std::vector<std::string> disconnected() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return disconnected_;
  }

  std::optional<router::BoardPresence> Presence(const std::string& board_id) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = online_.find(board_id);
    if (it == online_.end()) return std::nullopt;
    return it->second;
  }

  void CallBoard(const std::string& board_id, const std::string& procedure, wamp::Payload payload,
                 std::chrono::milliseconds timeout, std::function<void(Result<wamp::Payload>)> done) override {
    Script script;
    bool online = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      calls_.push_back(RecordedCall{board_id, procedure, payload, timeout});
      online = online_.count(board_id) > 0;
      if (auto it = scripts_.find(board_id); it != scripts_.end()) script = it->second;
      if (online && silent_.count(board_id)) {
        held_.push_back(std::move(done));
        return;
      }
    }
    if (!online) return done(Unavailable("board " + board_id + " is offline"));
    if (script) return done(script(procedure, payload));
    done(std::move(payload));
  }

  void DisconnectBoard(const std::string& board_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    disconnected_.push_back(board_id);
    online_.erase(board_id);
  }
  void ServeConductorProcedure(const std::string& uri, ConductorHandler handler) override {
    std::lock_guard<std::mutex> lock(mutex_);
    conductor_procedures_[uri] = std::move(handler);
  }
  void OnBoardRegistered(RegisteredListener listener) override {
    std::lock_guard<std::mutex> lock(mutex_);
    registered_listeners_.push_back(std::move(listener));
  }
  void OnBoardPublication(PublicationListener listener) override {
    std::lock_guard<std::mutex> lock(mutex_);
    publication_listeners_.push_back(std::move(listener));
  }
  void OnBoardSessionEnded(SessionEndedListener listener) override {
    std::lock_guard<std::mutex> lock(mutex_);
    session_ended_listeners_.push_back(std::move(listener));
  }
  void SetFlowAccess(const std::string& flow_id, const std::string& project_id, std::vector<std::string> boards) override {
    std::lock_guard<std::mutex> lock(mutex_);
    flow_access_[flow_id] = {project_id, std::move(boards)};
  }
  void ClearFlowAccess(const std::string& flow_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    flow_access_.erase(flow_id);
  }
  // flow id → (project, boards) as last set; absent once cleared.
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> flow_access() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return flow_access_;
  }
  void OnFlowPublication(FlowPublicationListener listener) override {
    std::lock_guard<std::mutex> lock(mutex_);
    flow_publication_listeners_.push_back(std::move(listener));
  }
  void PublishFlowEvent(const std::string& topic, wamp::Payload payload) override {
    std::lock_guard<std::mutex> lock(mutex_);
    flow_events_.emplace_back(topic, std::move(payload));
  }
  // What the conductor published on ew.flow.* topics, in order.
  std::vector<std::pair<std::string, wamp::Payload>> flow_events() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return flow_events_;
  }
  // As if a session published on an ew.flow.* topic (synchronously, on the caller's thread).
  void PublishFlow(const std::string& topic, const wamp::Payload& payload) {
    std::vector<FlowPublicationListener> listeners;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      listeners = flow_publication_listeners_;
    }
    for (auto& listener : listeners) listener(topic, payload);
  }
  // As if the board published ew.board.<id>.<suffix> (synchronously, on the caller's thread).
  void Publish(const std::string& board_id, const std::string& suffix, const wamp::Payload& payload) {
    std::vector<PublicationListener> listeners;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      listeners = publication_listeners_;
    }
    for (auto& listener : listeners) listener(board_id, suffix, payload);
  }
  // As if the board's session ended: it goes offline and the session-ended listeners run.
  void EndSession(const std::string& board_id) {
    std::vector<SessionEndedListener> listeners;
    uint64_t session = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = online_.find(board_id);
      if (it == online_.end()) return;
      session = it->second.session_id;
      online_.erase(it);
      listeners = session_ended_listeners_;
    }
    for (auto& listener : listeners) listener(board_id, session);
  }
  // What a board's CALL of a conductor procedure would do (synchronously here).
  void CallConductor(const std::string& board_id, const std::string& uri, wamp::Payload payload, Reply reply) {
    ConductorHandler handler;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = conductor_procedures_.find(uri);
      if (it == conductor_procedures_.end()) return reply(NotFound("no procedure " + uri));
      handler = it->second;
    }
    handler(board_id, std::move(payload), std::move(reply));
  }
  // As if the board registered ew.board.<id>.<suffix>.
  void Registered(const std::string& board_id, const std::string& suffix) {
    std::vector<RegisteredListener> listeners;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      listeners = registered_listeners_;
    }
    for (auto& listener : listeners) listener(board_id, suffix);
  }

 private:
  mutable std::mutex mutex_;
  uint64_t next_session_ = 0;
  std::map<std::string, router::BoardPresence> online_;
  std::map<std::string, Script> scripts_;
  std::vector<RecordedCall> calls_;
  std::map<std::string, ConductorHandler> conductor_procedures_;
  std::vector<RegisteredListener> registered_listeners_;
  std::vector<PublicationListener> publication_listeners_;
  std::vector<SessionEndedListener> session_ended_listeners_;
  std::vector<FlowPublicationListener> flow_publication_listeners_;
  std::vector<std::pair<std::string, wamp::Payload>> flow_events_;
  std::vector<std::string> disconnected_;
  std::set<std::string> silent_;
  std::vector<std::function<void(Result<wamp::Payload>)>> held_;
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> flow_access_;
};

}  // namespace ew::testing
