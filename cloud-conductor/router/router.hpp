// The conductor's embedded WAMP router for realm "edgewire": sessions, authentication
// (wampcra for boards, ticket for users), the dealer (RPC) and the broker (pub/sub), and the
// BoardGateway the rest of the conductor uses to reach boards.
//
// Threading: every method runs on the router's executor (the conductor's io thread), so the
// tables below need no locks; only the presence map, read by REST from other threads, has one.
// The BoardGateway methods are safe from any thread: they post onto the executor.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cloud-conductor/auth/principal.hpp"
#include "cloud-conductor/auth/revocation.hpp"
#include "cloud-conductor/auth/role.hpp"
#include "cloud-conductor/router/board_gateway.hpp"
#include "cloud-conductor/router/publication_dedupe.hpp"
#include "cloud-conductor/router/directory.hpp"
#include "cloud-conductor/router/transport.hpp"
#include "common/metrics/metrics.hpp"
#include "common/wamp/codec.hpp"

namespace ew::router {

struct RouterConfig {
  std::string realm = "edgewire";
  std::chrono::milliseconds hello_timeout{10'000};  // HELLO..WELCOME must finish within this
  std::chrono::milliseconds call_timeout{30'000};   // when a CALL has no timeout option
  std::chrono::milliseconds max_call_timeout{3'600'000};
  // Board readiness (issue 14): a board counts as online once its agent calls
  // ew.conductor.board.ready, i.e. once every procedure it serves is registered. An agent that
  // never calls it (older than the call) comes online board_ready_grace after its last REGISTER
  // (its registrations are sent in one burst right after WELCOME), and board_ready_max after
  // WELCOME at the latest, whatever it keeps registering.
  std::chrono::milliseconds board_ready_grace{2'000};
  std::chrono::milliseconds board_ready_max{15'000};
};

// A session's role: the one enum of cloud-conductor/auth/role.hpp (its authrole is RoleName).
using auth::Role;
using auth::RoleName;

// How a subscription's topic is matched (SUBSCRIBE.Options.match).
enum class Match {
  kExact,
  kPrefix,    // whole components: "a.b" matches "a.b" and "a.b.c", not "a.bc"
  kWildcard,  // as many components as the pattern; an empty pattern component matches any one
};

struct CallOutcome;

// Who receives a publication besides "every subscriber": PUBLISH's exclude_me, disclose_me,
// exclude/eligible by session id, authid and authrole (an unset eligible list = everyone).
struct PublishOptions {
  bool exclude_me = true;
  bool disclose_me = false;
  std::set<wamp::Id> exclude;
  std::set<std::string> exclude_authid;
  std::set<std::string> exclude_authrole;
  std::optional<std::set<wamp::Id>> eligible;
  std::optional<std::set<std::string>> eligible_authid;
  std::optional<std::set<std::string>> eligible_authrole;
};

class Router final : public BoardGateway {
 public:
  Router(boost::asio::any_io_executor executor, RouterConfig config, Directory& directory,
         metrics::Registry& metrics);
  ~Router() override;

  // A new connection. The returned handler receives its frames. Router's executor.
  std::shared_ptr<TransportHandler> Attach(std::shared_ptr<Transport> transport);

  // BoardGateway (any thread).
  std::optional<BoardPresence> Presence(const std::string& board_id) const override;
  void CallBoard(const std::string& board_id, const std::string& procedure, wamp::Payload payload,
                 std::chrono::milliseconds timeout, std::function<void(Result<wamp::Payload>)> done) override;
  void DisconnectBoard(const std::string& board_id) override;
  void ServeConductorProcedure(const std::string& uri, ConductorHandler handler) override;
  void OnBoardRegistered(RegisteredListener listener) override;
  void OnBoardPublication(PublicationListener listener) override;
  void OnBoardSessionEnded(SessionEndedListener listener) override;
  void SetFlowAccess(const std::string& flow_id, const std::string& project_id, std::vector<std::string> boards) override;
  void ClearFlowAccess(const std::string& flow_id) override;
  void SetFlowWires(const std::string& flow_id, std::map<std::string, std::vector<std::string>> receivers) override;
  std::map<std::string, WireBufferStats> FlowWireStats(const std::string& flow_id) const override;
  void OnFlowPublication(FlowPublicationListener listener) override;
  void PublishFlowEvent(const std::string& topic, wamp::Payload payload) override;

  size_t SessionCount() const { return sessions_.size(); }

  // Ends every established session opened with the revoked token, or by the revoked user
  // (ticket sessions; boards end through DisconnectBoard): GOODBYE with revocation.reason_uri
  // and its message, then the connection closes. Thread-safe: posts onto the executor.
  void Revoke(const auth::Revocation& revocation);

  struct Session;
  struct PendingCall;

 private:
  friend class SessionHandler;
  using SessionPtr = std::shared_ptr<Session>;

  void OnFrame(const SessionPtr& s, std::string_view frame);
  void OnClose(const SessionPtr& s);
  void Dispatch(const SessionPtr& s, wamp::Message&& message);

  // One function per message (handle_*.cpp).
  void HandleHello(const SessionPtr& s, wamp::Hello&& m);
  void HandleAuthenticate(const SessionPtr& s, wamp::Authenticate&& m);
  void HandleGoodbye(const SessionPtr& s, wamp::Goodbye&& m);
  void HandleRegister(const SessionPtr& s, wamp::Register&& m);
  void HandleUnregister(const SessionPtr& s, wamp::Unregister&& m);
  void HandleCall(const SessionPtr& s, wamp::Call&& m);
  void HandleCancel(const SessionPtr& s, wamp::Cancel&& m);
  void HandleYield(const SessionPtr& s, wamp::Yield&& m);
  void HandleInvocationError(const SessionPtr& s, wamp::ErrorMessage&& m);
  void HandlePublish(const SessionPtr& s, wamp::Publish&& m);
  void HandleSubscribe(const SessionPtr& s, wamp::Subscribe&& m);
  void HandleUnsubscribe(const SessionPtr& s, wamp::Unsubscribe&& m);
  // ew.conductor.publish (handle_acked_publish.cpp): a board's publications, routed once per
  // spool seq and acknowledged by the RESULT.
  void HandleAckedPublish(const SessionPtr& s, wamp::Call&& m);
  // ew.conductor.board.ready (handle_board_ready.cpp): the board's procedures are all
  // registered; it comes online now.
  void HandleBoardReady(const SessionPtr& s, wamp::Call&& m);

  // Session lifecycle.
  void Welcome(const SessionPtr& s, Role role, std::string authid, std::string authmethod, std::string project_id);
  void Abort(const SessionPtr& s, const std::string& reason, const std::string& message);
  // Forgets the session and closes its connection.
  void CloseSession(const SessionPtr& s, const std::string& reason);
  void ProtocolViolation(const SessionPtr& s, const std::string& message);
  void Send(const SessionPtr& s, const wamp::Message& message);
  void SendError(const SessionPtr& s, wamp::MessageType type, wamp::Id request, const std::string& uri,
                 const std::string& message);
  void Cleanup(const SessionPtr& s);
  // A ticket session's token and user, kept until it ends so that Revoke finds it. false (and
  // the session aborted) when the credential was revoked while it was being checked.
  bool RememberCredential(const SessionPtr& s, const auth::Principal& principal);
  void RevokeNow(const auth::Revocation& revocation);
  // Ends a session the router no longer serves (credential revoked, board deleted): GOODBYE
  // with `reason_uri` (ABORT before WELCOME), then the connection closes.
  void EndSession(const SessionPtr& s, const std::string& reason_uri, const std::string& message);

  // Dealer.
  struct Caller;
  void StartCall(Caller caller, const std::string& procedure, wamp::Payload&& payload, const wamp::Value& options,
                 std::chrono::milliseconds timeout);
  void FinishCall(wamp::Id invocation, CallOutcome&& outcome, bool progress = false);
  // Call timeouts: one timer for every pending call, armed for the earliest deadline (a timer
  // per call cost an allocation, a wait and a cancelled handler's run on every call).
  void ArmCallTimer();
  void OnCallTimer();
  void InterruptCallee(const PendingCall& call, const std::string& mode);

  // Broker.
  // publisher may be null (the conductor itself publishes). Returns the publication id.
  wamp::Id Publish(const Session* publisher, const std::string& topic, const wamp::Payload& payload,
                   const PublishOptions& options = PublishOptions());
  // An authorized publication of session `s`: the board and flow hooks, the wire buffer, then
  // Publish. Returns the publication id.
  wamp::Id RoutePublication(const Session& s, const std::string& topic, const wamp::Payload& payload,
                            const PublishOptions& options);
  void FinishSubscribe(const SessionPtr& s, wamp::Subscribe&& m, Match match, bool disclose_publisher);
  // Whether the session is already subscribed to (topic, match).
  bool HoldsSubscription(const Session& s, const std::string& topic, Match match) const;
  // Takes one session off a subscription, and drops the subscription when it was the last.
  void DropSubscriber(wamp::Id subscription, wamp::Id session);

  // Authorization (role + URI prefix).
  Result<void> MayRegister(const Session& s, const std::string& uri) const;
  Result<void> MayCall(const Session& s, const std::string& uri) const;
  // Resumes a CALL that needed the project of a board the router has not seen yet.
  void CallAfterLookup(const SessionPtr& s, wamp::Call&& m, const std::string& board);
  // A CALL of a procedure the conductor serves itself (ServeConductorProcedure).
  void CallConductor(const SessionPtr& s, wamp::Call&& m, const ConductorHandler& handler);
  Result<void> MayPublish(const Session& s, const std::string& uri) const;
  // ew.flow.<flow>.* (also as a prefix or wildcard pattern naming the flow): a board holding a
  // partition of the flow, or a user of its project (flows contract).
  bool MayUseFlowTopic(const Session& s, const std::string& uri) const;

  // A board session was welcomed: it replaces an older session of the board, but is not online
  // until BoardReady (the grace timer of ArmReadyGrace brings an agent that never says so).
  void BoardJoined(const SessionPtr& s);
  // Moves the session's readiness grace to board_ready_grace from now, capped at
  // board_ready_max after WELCOME. Called at WELCOME and at each REGISTER before it is ready:
  // only the deadline moves (no timer is cancelled per REGISTER); the one wait of the session
  // (WaitReadyGrace) waits again when it wakes before the deadline.
  void ArmReadyGrace(const SessionPtr& s);
  void WaitReadyGrace(const SessionPtr& s);
  // The board is online: presence, "online" status, then the registered listeners for every
  // procedure the session holds. `by_grace`: the agent never called ew.conductor.board.ready.
  void BoardReady(const SessionPtr& s, bool by_grace);
  void BoardOffline(const Session& s);
  void PublishStatus(const std::string& board_id, bool online);
  // The WAMP session meta event wamp.session.on_leave, args [session, authid, authrole].
  void PublishSessionLeft(const Session& s);
  // A flow wire publication: kept for receivers not subscribed to it now (WireBuffer).
  void BufferForAbsentReceivers(const std::string& topic, const wamp::Payload& payload);
  // What was kept for this board on `topic`, sent to it alone after its SUBSCRIBED.
  void ReplayWire(const SessionPtr& s, const std::string& topic, wamp::Id subscription);

  boost::asio::any_io_executor executor_;
  RouterConfig config_;
  Directory& directory_;

  std::unordered_map<wamp::Id, SessionPtr> sessions_;
  // Ticket sessions: session id → (token id, user id) they were opened with.
  struct Credential {
    std::string token_id;
    std::string user_id;
  };
  std::unordered_map<wamp::Id, Credential> credentials_;
  // Revocations of the last few seconds: a token check that read the store just before a
  // revocation answers after it, and must not open a session (newest last, bounded).
  std::deque<std::pair<std::chrono::steady_clock::time_point, auth::Revocation>> recent_revocations_;
  // Boards deleted in the last few seconds, for the same reason (a WAMP-CRA login in flight).
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> recent_board_deletions_;
  // Dealer tables.
  struct Registration {
    wamp::Id id;
    std::string procedure;
    std::weak_ptr<Session> callee;
    bool disclose_caller = false;
  };
  std::unordered_map<std::string, wamp::Id> procedures_;  // uri → registration id
  std::unordered_map<wamp::Id, Registration> registrations_;
  std::unordered_map<wamp::Id, std::unique_ptr<PendingCall>> pending_;  // by invocation id
  std::set<std::pair<std::chrono::steady_clock::time_point, wamp::Id>> call_deadlines_;  // of pending_
  boost::asio::steady_timer call_timer_{executor_};
  std::chrono::steady_clock::time_point call_timer_at_ = std::chrono::steady_clock::time_point::max();
  // Broker tables.
  struct Subscriber {
    std::weak_ptr<Session> session;
    bool disclose_publisher = false;  // SUBSCRIBE.Options.disclose_publisher
  };
  struct Subscription {
    wamp::Id id;
    std::string topic;
    Match match = Match::kExact;
    std::vector<std::string> components;  // wildcard patterns only
    std::map<wamp::Id, Subscriber> subscribers;
  };
  std::map<std::pair<std::string, Match>, wamp::Id> topics_;  // (topic, match) → subscription
  std::unordered_map<wamp::Id, Subscription> subscriptions_;
  std::set<wamp::Id> wildcard_subscriptions_;  // tried one by one on every publication
  // Board sessions by board id (the live ones).
  std::unordered_map<std::string, std::weak_ptr<Session>> boards_;
  // Board → project, learned from sessions and lookups, for authorizing users.
  std::unordered_map<std::string, std::string> board_projects_;
  // Flows by id: their project and the boards holding a partition (SetFlowAccess).
  struct FlowAccess {
    std::string project_id;
    std::set<std::string> boards;
  };
  std::unordered_map<std::string, FlowAccess> flows_;
  // Wire messages kept for receiving boards that are away (SetFlowWires).
  WireBuffer wire_buffer_;
  // Highest spool seq taken per (board, stream) of ew.conductor.publish (bounded).
  PublicationDedupe publication_dedupe_;
  // The conductor's own procedures (ew.conductor.*) and who hears of board registrations.
  std::unordered_map<std::string, ConductorHandler> conductor_procedures_;
  std::vector<RegisteredListener> registered_listeners_;
  std::vector<PublicationListener> publication_listeners_;
  std::vector<SessionEndedListener> session_ended_listeners_;
  std::vector<FlowPublicationListener> flow_publication_listeners_;

  mutable std::mutex presence_mutex_;
  std::unordered_map<std::string, BoardPresence> presence_;  // GUARDED_BY(presence_mutex_)

  wamp::Id next_registration_ = 1;
  wamp::Id next_subscription_ = 1;
  wamp::Id next_invocation_ = 1;  // the key of pending_, not the INVOCATION's request id
  wamp::Id next_internal_request_ = 1;

  metrics::Gauge& sessions_gauge_;
  metrics::Gauge& boards_online_gauge_;  // presence_.size(): what the reliability bench waits on
  metrics::Counter& calls_total_;
  metrics::Counter& call_errors_total_;
  metrics::Counter& publications_total_;
  metrics::Counter& protocol_violations_total_;
  metrics::Counter& auth_failures_total_;
  metrics::Counter& boards_ready_by_grace_total_;  // agents that never called board.ready
  metrics::Histogram& call_latency_;

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ew::router
