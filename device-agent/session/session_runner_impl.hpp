// SessionRunner's state, shared by its two source files: session_runner.cpp (the lifecycle:
// start, stop, reconnect, calls and publications over the current session) and
// session_connect.cpp (one connection: WebSocket, CHALLENGE, join, registrations, and the
// messages handled here instead of Autobahn). Private to the session module: it includes
// Autobahn and websocketpp.
//
// Threading: everything runs on the io thread. Autobahn's futures are continued with
// boost::launch::sync (inline, where the promise is set: on the io thread, inside message
// handling) and the continuation only posts the outcome back to the io_context, so runner
// state never changes in the middle of Autobahn's own code. One exception: a REGISTERED's
// registration id is recorded inline (Attempt::registrations, which Autobahn never reads), so
// that no INVOCATION read after it finds the table without it.
//
// Autobahn 17.5 quirks handled here:
//  - a connection that dies is reported by our WsTransport, never by the session;
//  - CHALLENGE is answered here, not through wamp_session::on_challenge: Autobahn's
//    process_challenge continues the on_challenge future on a new detached thread, keeps that
//    continuation alive through a shared_ptr cycle (~370 bytes leaked per join) and signs with
//    a base64 helper that leaks an OpenSSL BIO per call (valgrind shows both); a board on a
//    flaky link rejoins thousands of times;
//  - GOODBYE from the router makes wamp_session throw (it clears its session id, then
//    sends the reply "as established"), so GOODBYE is intercepted and answered with leave();
//  - INTERRUPT (the conductor's call timeout/cancel) makes it throw "not implemented", so it
//    is intercepted and answered with ERROR wamp.error.canceled;
//  - INVOCATION is answered here too (OnInvocation), for speed: Autobahn builds an invocation
//    object per call and repacks the reply twice (docs/ARCHITECTURE.md, "The RPC path's cost").
//    A procedure that throws is answered with ERROR ew.error.internal (Autobahn sent
//    wamp.error.runtime_error);
//  - on_detach() asserts the session was stopped, so teardown is leave() → stop() →
//    WsTransport::Release(), each guarded, and the objects die in a later handler.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <autobahn/boost_config.hpp>
#include <autobahn/wamp_event.hpp>
#include <autobahn/wamp_invocation.hpp>
#include <autobahn/wamp_registration.hpp>
#include <autobahn/wamp_session.hpp>
#include <autobahn/wamp_subscription.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/clock/clock.hpp"
#include "common/url/url.hpp"
#include "device-agent/session/cra_key.hpp"
#include "device-agent/session/reachability_probe.hpp"
#include "device-agent/session/reconnect_policy.hpp"
#include "device-agent/session/session_runner.hpp"
#include "device-agent/session/ws_transport.hpp"

namespace ew::agent::session {

class SessionRunner::Impl {
 public:
  Impl(boost::asio::io_context& io, SessionOptions options, rpc::ProcedureTable procedures, SessionObserver* observer,
       Backoff::RandomSource random);
  ~Impl();

  void AddSubscription(rpc::Subscription subscription) { subscriptions_.push_back(std::move(subscription)); }
  void AddObserver(SessionObserver* observer) { observers_.push_back(observer); }

  // session_runner.cpp: what SessionRunner's public methods do.
  bool Publish(const std::string& topic, const rpc::Reply& payload);
  void Subscribe(const std::string& topic, std::function<void(const rpc::Request&)> handler);
  void Unsubscribe(const std::string& topic);
  void Start();
  void Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds timeout,
            std::function<void(ew::Result<rpc::Reply>)> done);
  void Stop(std::function<void()> done);
  const ReconnectPolicy& policy() const { return policy_; }

 private:
  using Clock = std::chrono::steady_clock;

  enum class Phase { kConnecting, kJoining, kRegistering, kReady, kLeaving };

  // One connection and the session on it.
  struct Attempt {
    uint64_t id = 0;
    Phase phase = Phase::kConnecting;
    std::shared_ptr<WsTransport> transport;  // BasicWsTransport<WsClient or WssClient>
    std::shared_ptr<autobahn::wamp_session> session;
    // Replies of invocations hold a weak pointer: they are dropped once this attempt ends.
    std::shared_ptr<bool> replies_open = std::make_shared<bool>(true);
    bool opened = false;
    bool goodbye_sent = false;
    uint64_t session_id = 0;
    size_t registrations_pending = 0;
    Clock::time_point ready_at{};
    bool was_ready = false;
    std::string failure;  // why we closed, when we did: reported instead of the socket's reason
    std::string abort_reason;  // ABORT from the router, for the join failure message
    std::optional<DisconnectKind> kind;  // set where the failure is understood; else from the transport
    // Our procedures by registration id, once the router has answered their REGISTER: their
    // INVOCATIONs are answered here (OnInvocation), without Autobahn's invocation objects.
    struct Registered {
      std::string uri;
      rpc::Handler handler;
    };
    // Shared: a handler running keeps its entry, whatever the table meanwhile becomes.
    std::unordered_map<uint64_t, std::shared_ptr<const Registered>> registrations;
  };

  std::weak_ptr<bool> Alive() const { return alive_; }
  bool IsCurrent(uint64_t id) const { return attempt_ && attempt_->id == id; }

  // Runs `fn(id, result)` on the io thread, later, if the runner and attempt still exist.
  template <typename T, typename Fn>
  void Continue(boost::future<T>&& future, uint64_t id, Fn fn) {
    future.then(boost::launch::sync, [io = &io_, alive = Alive(), id, fn = std::move(fn)](boost::future<T> done) {
      ew::Result<T> result = ew::Internal("no result");
      try {
        result = done.get();
      } catch (const std::exception& e) {
        result = ew::Unavailable(e.what());
      } catch (...) {
        result = ew::Unavailable("unknown failure");
      }
      boost::asio::post(*io, [alive, id, fn, result = std::move(result)]() mutable {
        if (!alive.expired()) fn(id, std::move(result));
      });
    });
  }

  template <typename Client>
  void InitClient(Client& client) {
    client.init_asio(&io_);
    client.clear_access_channels(websocketpp::log::alevel::all);
    // websocketpp's error log is read back by WsTransport for the reason of a failed connect,
    // then reaches our log as part of that reason; it never goes to stderr.
    client.clear_error_channels(websocketpp::log::elevel::all);
    client.set_error_channels(websocketpp::log::elevel::info | websocketpp::log::elevel::warn |
                              websocketpp::log::elevel::rerror | websocketpp::log::elevel::fatal);
    client.get_elog().set_ostream(&error_log_);
    client.set_user_agent("edgewire-agent");
    client.set_max_message_size(options_.max_message_bytes);
  }

  // session_runner.cpp: the lifecycle.
  // SUBSCRIBE for one dynamic topic in the current (ready) session.
  void SubscribeNow(const std::string& topic);
  void OnClosed(uint64_t id, const std::string& reason);
  // Ends the session object's part in an attempt. Each Autobahn call is guarded: they throw
  // on states a dead connection can leave behind (promise already satisfied, no transport).
  void Teardown(Attempt& attempt);
  void FinishStop();
  // Waits step.delay, then probes or connects.
  void Schedule(ReconnectStep step);
  // One TCP probe of the conductor's port; connects when it answers, else schedules the next.
  void Probe();

  // session_connect.cpp: one connection and its join.
  void Connect();
  // Closes the current attempt's connection, remembering why (and, unless already known, that
  // it is a kFailed disconnect) for the log and the reconnect policy.
  void Fail(const std::string& reason, websocketpp::close::status::value code);
  void OnOpen(uint64_t id);
  void OnJoined(uint64_t id, ew::Result<uint64_t> joined);
  // One REGISTER or SUBSCRIBE of the join answered; `what` is "register <uri>" or "subscribe <topic>".
  void OnRegistered(uint64_t id, const std::string& what, ew::Result<void> registered);
  // What Autobahn would run for an INVOCATION of ours that OnInvocation did not take: none
  // does (OnInvocation knows every registration from the moment REGISTERED is handled, and
  // leaves only malformed INVOCATIONs to Autobahn, which refuses them); logged and answered
  // with an error should one ever arrive.
  autobahn::wamp_procedure UnexpectedInvocation(const std::string& uri);
  // [INVOCATION, Request, Registration, Details, Arguments?, ArgumentsKw?] of a registration we
  // know: runs its handler (Invoke) and returns true; false leaves the message to Autobahn.
  bool OnInvocation(Attempt& attempt, const autobahn::wamp_message& message);
  // Runs `procedure`'s handler for INVOCATION `request` in the current attempt; its reply goes
  // out as one encoded YIELD or ERROR (EncodeReply), at once when given on the io thread, else
  // posted there, and is dropped once that attempt has ended.
  void Invoke(Attempt& attempt, std::shared_ptr<const Attempt::Registered> procedure, uint64_t request,
              const msgpack::object* args, const msgpack::object* kwargs, uint64_t caller);
  // EVENTs run on the io thread (inside Autobahn's message handling) and only while the
  // attempt they were subscribed in is open.
  autobahn::wamp_event_handler MakeEventHandler(const rpc::Subscription& subscription,
                                                const std::shared_ptr<bool>& open_flag);
  // Messages the runner handles itself instead of Autobahn (see the file comment).
  bool Intercept(uint64_t id, const autobahn::wamp_message& message);
  // Value of `key` in a msgpack map, or null.
  static const msgpack::object* Find(const msgpack::object& map, const char* key);
  // [WELCOME, Session, Details]: the conductor's heartbeat terms (Details.x_heartbeat), given to
  // the transport, whose checks of the conductor follow them. Left to Autobahn afterwards.
  void AdoptHeartbeat(Attempt& attempt, const autobahn::wamp_message& message);
  // [CHALLENGE, AuthMethod, Extra{challenge, salt?, iterations?, keylen?}] → AUTHENTICATE.
  void OnChallenge(Attempt& attempt, const autobahn::wamp_message& message);
  // "<uri>: <details.message>" from ABORT/GOODBYE ([type, details, reason]).
  static std::string DescribeReason(const autobahn::wamp_message& message, size_t reason_index, size_t details_index);
  void OnGoodbye(Attempt& attempt, const std::string& reason);
  // Sends GOODBYE through Autobahn (which also marks the session as left).
  void SendGoodbye(Attempt& attempt, const std::string& reason);
  // [INTERRUPT, INVOCATION.Request, Options]: the conductor gave up on a call (timeout or
  // cancel). Procedures cannot be cancelled yet; answer ERROR as WAMP asks unless the caller
  // said not to wait ("killnowait"). A late YIELD is then dropped by the router.
  void OnInterrupt(Attempt& attempt, const autobahn::wamp_message& message);

  // Declared first, destroyed last: pending continuations check it before touching `this`.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  boost::asio::io_context& io_;
  SessionOptions options_;
  rpc::ProcedureTable procedures_;
  std::vector<SessionObserver*> observers_;
  std::vector<rpc::Subscription> subscriptions_;
  // Subscriptions made and dropped while running (ConductorClient::Subscribe), by topic.
  struct Dynamic {
    std::function<void(const rpc::Request&)> handler;
    std::optional<autobahn::wamp_subscription> subscription;  // in attempt `attempt`
    uint64_t attempt = 0;
  };
  std::map<std::string, Dynamic> dynamic_;
  SystemClock clock_;
  ReconnectPolicy policy_;
  std::optional<url::Url> probe_target_;  // the conductor's host and port; none: connect instead of probing
  ReachabilityProbe probe_;
  CraKey key_;  // derives once per salt, then cached across reconnects
  std::ostringstream error_log_;  // websocketpp's error log; emptied by each WsTransport
  std::unique_ptr<WsClient> ws_client_;    // ws:// URLs
  std::unique_ptr<WssClient> wss_client_;  // wss:// URLs
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer join_timer_;
  boost::asio::steady_timer leave_timer_;
  boost::asio::steady_timer stop_timer_;
  std::unique_ptr<Attempt> attempt_;
  uint64_t last_attempt_id_ = 0;
  bool started_ = false;
  bool stopping_ = false;
  std::function<void()> stop_done_;
};

}  // namespace ew::agent::session
