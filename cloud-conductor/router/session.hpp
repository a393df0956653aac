// Per-session and per-call state of the router. Internal to cloud-conductor/router.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>

#include "cloud-conductor/router/router.hpp"
#include "common/log/log.hpp"

namespace ew::router {

inline const log::Logger RouterLog{"router"};

// A boolean WAMP option or detail; `fallback` when absent or not a boolean.
inline bool BoolOption(const wamp::Value& options, const char* key, bool fallback = false) {
  if (options.empty()) return fallback;  // no std::string key made for find
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
  // Boards: online (ew.conductor.board.ready, or the grace ran out). Until then the conductor
  // neither calls the board nor counts it as present. ready_timer is the grace, while not ready.
  bool ready = false;
  std::chrono::steady_clock::time_point joined_at{};
  std::chrono::steady_clock::time_point ready_deadline{};  // of the grace (Router::ArmReadyGrace)
  std::unique_ptr<boost::asio::steady_timer> ready_timer;

  std::set<wamp::Id> registrations;
  std::set<wamp::Id> subscriptions;
  size_t wildcard_subscriptions = 0;  // how many of them match by wildcard (they are capped)
  std::unordered_map<wamp::Id, wamp::Id> calls_as_caller;  // CALL request id → invocation id
  // INVOCATIONs this session serves: their request id (session scope, see NextRequestId) → the
  // key of the call in Router::pending_.
  std::map<wamp::Id, wamp::Id> invocations_as_callee;
  // Board sessions that saw this session's id as a disclosed caller: they alone hear, redacted,
  // that it left (wamp.session.on_leave), to release what it set up on them (GPIO watches).
  std::set<wamp::Id> disclosed_to_boards;

  // Request ids the router picks for this session (INVOCATION) are session-scope ids as WAMP
  // asks: 1, 2, 3, … wrapping to 1 after 2^53, skipping ids still in use.
  wamp::Id NextRequestId() {
    do {
      next_request_id = next_request_id >= wamp::kMaxId ? 1 : next_request_id + 1;
    } while (invocations_as_callee.count(next_request_id));
    return next_request_id;
  }
  wamp::Id next_request_id = 0;  // the last one handed out

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
  wamp::Id callee_request = 0;  // the INVOCATION's request id, in the callee's session scope
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point deadline;  // its entry in Router::call_deadlines_
  std::chrono::milliseconds timeout{0};
  bool interrupted = false;
};

// A call's end: a success payload, or an error URI with its payload.
struct CallOutcome {
  std::string error_uri;  // empty on success
  wamp::Payload payload;
  wamp::Value details = wamp::Value::object();
};

}  // namespace ew::router
