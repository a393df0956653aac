// Per-session and per-call state of the router. Internal to cloud-conductor/router.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>

#include "cloud-conductor/router/router.hpp"
#include "common/log/log.hpp"

namespace ew::router {

inline std::shared_ptr<spdlog::logger> RouterLog() {
  static auto logger = log::Get("router");
  return logger;
}

// A boolean WAMP option or detail; `fallback` when absent or not a boolean.
inline bool BoolOption(const wamp::Value& options, const char* key, bool fallback = false) {
  auto it = options.find(key);
  return (it != options.end() && it->is_boolean()) ? it->get<bool>() : fallback;
}

struct Router::Session {
  enum class State {
    kAwaitHello,      // socket open, nothing said yet
    kAuthenticating,  // waiting on the directory (board lookup or token check)
    kChallenged,      // CHALLENGE sent, waiting for AUTHENTICATE
    kEstablished,     // WELCOME sent
    kClosed,
  };

  wamp::Id id = 0;
  std::shared_ptr<Transport> transport;
  State state = State::kAwaitHello;
  Role role = Role::kNone;
  std::string authid;
  std::string authmethod;
  std::string project_id;  // users and boards; empty for admins
  std::string board_id;    // boards only
  std::string expected_signature;  // wampcra: what AUTHENTICATE must carry
  // The client announced roles.callee.features.call_canceling: only then does it get INTERRUPT
  // (Autobahn|Cpp, for one, does not understand it).
  bool accepts_interrupt = false;
  std::unique_ptr<boost::asio::steady_timer> hello_timer;

  std::set<wamp::Id> registrations;
  std::set<wamp::Id> subscriptions;
  std::unordered_map<wamp::Id, wamp::Id> calls_as_caller;  // CALL request id → invocation id
  std::set<wamp::Id> invocations_as_callee;

  std::string Describe() const {
    return role == Role::kBoard ? "board=" + board_id + " session=" + std::to_string(id)
                                : "user=" + log::Untrusted(authid) + " session=" + std::to_string(id);
  }
};

// Who waits for a call's outcome: a WAMP session, or code inside the conductor.
struct Router::Caller {
  std::weak_ptr<Session> session;
  wamp::Id session_id = 0;
  wamp::Id request = 0;
  std::string authid;
  std::string authrole;
  bool receive_progress = false;
  bool disclose_me = false;
  std::function<void(Result<wamp::Payload>)> internal;  // set for conductor-internal calls
};

struct Router::PendingCall {
  wamp::Id invocation = 0;
  std::string procedure;
  Caller caller;
  std::weak_ptr<Session> callee;
  std::chrono::steady_clock::time_point started;
  std::unique_ptr<boost::asio::steady_timer> timer;
  bool interrupted = false;
};

// A call's end: a success payload, or an error URI with its payload.
struct CallOutcome {
  std::string error_uri;  // empty on success
  wamp::Payload payload;
  wamp::Value details = wamp::Value::object();
};

}  // namespace ew::router
