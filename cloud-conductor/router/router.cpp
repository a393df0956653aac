// Router core: attaching transports, decoding and dispatching frames, welcoming and tearing
// down sessions, board presence, authorization rules and the BoardGateway.
#include "cloud-conductor/router/router.hpp"

#include <boost/asio/post.hpp>

#include "cloud-conductor/router/session.hpp"
#include "common/contract/presence.hpp"
#include "common/contract/sys.hpp"
#include "common/contract/tunnel.hpp"
#include "common/contract/update.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"
#include "common/wamp/kept_payload.hpp"
#include "common/wamp/uri.hpp"
#include "flows/model/wire_topic.hpp"

namespace ew::router {

// Feeds one transport's frames into the router, keeping the session alive while it is open.
class SessionHandler final : public TransportHandler {
 public:
  SessionHandler(Router* router, std::shared_ptr<Router::Session> session, std::weak_ptr<bool> alive)
      : router_(router), session_(std::move(session)), alive_(std::move(alive)) {}
  void OnFrame(std::string_view frame) override {
    if (!alive_.expired()) router_->OnFrame(session_, frame);
  }
  void OnClose() override {
    if (!alive_.expired()) router_->OnClose(session_);
  }

 private:
  Router* router_;
  std::shared_ptr<Router::Session> session_;
  std::weak_ptr<bool> alive_;
};

Router::Router(boost::asio::any_io_executor executor, RouterConfig config, Directory& directory,
               metrics::Registry& metrics)
    : executor_(std::move(executor)),
      config_(std::move(config)),
      directory_(directory),
      sessions_gauge_(metrics.GetGauge("ew_wamp_sessions", "Open WAMP sessions")),
      boards_online_gauge_(metrics.GetGauge("ew_boards_online", "Boards with a ready session (online)")),
      calls_total_(metrics.GetCounter("ew_wamp_calls_total", "WAMP calls routed")),
      call_errors_total_(metrics.GetCounter("ew_wamp_call_errors_total", "WAMP calls that ended in an error")),
      publications_total_(metrics.GetCounter("ew_wamp_publications_total", "WAMP publications routed")),
      protocol_violations_total_(
          metrics.GetCounter("ew_wamp_protocol_violations_total", "Sessions aborted for protocol violations")),
      auth_failures_total_(metrics.GetCounter("ew_wamp_auth_failures_total", "Refused WAMP authentications")),
      boards_ready_by_grace_total_(metrics.GetCounter(
          "ew_boards_ready_by_grace_total",
          "Boards brought online by the readiness grace: their agent never called ew.conductor.board.ready")),
      call_latency_(metrics.GetHistogram("ew_wamp_call_duration_seconds", "Routed WAMP call duration")) {}

Router::~Router() { alive_.reset(); }

std::shared_ptr<TransportHandler> Router::Attach(std::shared_ptr<Transport> transport) {
  auto s = std::make_shared<Session>();
  do {
    s->id = ids::NewWampId();
  } while (sessions_.count(s->id));
  s->transport = std::move(transport);
  s->hello_timer = std::make_unique<boost::asio::steady_timer>(executor_, config_.hello_timeout);
  s->hello_timer->async_wait([this, weak = std::weak_ptr<Session>(s), alive = std::weak_ptr<bool>(alive_)](
                                 const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    auto s = weak.lock();
    if (s && s->state != Session::State::kEstablished && s->state != Session::State::kClosed) {
      RouterLog()->info("session={} from {}: no WELCOME within {} ms, closing", s->id, s->transport->peer(),
                  config_.hello_timeout.count());
      Abort(s, "wamp.error.timeout", "authentication did not complete in time");
    }
  });
  sessions_.emplace(s->id, s);
  sessions_gauge_.Set(static_cast<double>(sessions_.size()));
  return std::make_shared<SessionHandler>(this, s, alive_);
}

void Router::OnFrame(const SessionPtr& s, std::string_view frame) {
  if (s->state == Session::State::kClosed) return;
  // Between msgpack peers a call's args and kwargs pass through as bytes: no DOM is built for
  // what the router does not read (CALL, YIELD and ERROR only).
  auto message = wamp::DecodeKeepingPayload(s->transport->serializer(), frame);
  if (!message) return ProtocolViolation(s, message.error().message);
  Dispatch(s, std::move(*message));
}

void Router::OnClose(const SessionPtr& s) {
  if (s->state != Session::State::kClosed) RouterLog()->debug("{} connection closed", s->Describe());
  Cleanup(s);
}

void Router::Dispatch(const SessionPtr& s, wamp::Message&& message) {
  using State = Session::State;
  auto type = wamp::TypeOf(message);
  if (s->state != State::kEstablished) {
    if (type == wamp::MessageType::kHello && s->state == State::kAwaitHello)
      return HandleHello(s, std::get<wamp::Hello>(std::move(message)));
    if (type == wamp::MessageType::kAuthenticate && s->state == State::kChallenged)
      return HandleAuthenticate(s, std::get<wamp::Authenticate>(std::move(message)));
    // A client may ABORT its own opening; GOODBYE closes an established session only.
    if (type == wamp::MessageType::kAbort) return CloseSession(s, "aborted");
    return ProtocolViolation(s, std::string(wamp::TypeName(type)) + " before the session was established");
  }
  switch (type) {
    case wamp::MessageType::kGoodbye: return HandleGoodbye(s, std::get<wamp::Goodbye>(std::move(message)));
    case wamp::MessageType::kAbort: return CloseSession(s, "aborted");
    case wamp::MessageType::kRegister: return HandleRegister(s, std::get<wamp::Register>(std::move(message)));
    case wamp::MessageType::kUnregister: return HandleUnregister(s, std::get<wamp::Unregister>(std::move(message)));
    case wamp::MessageType::kCall: return HandleCall(s, std::get<wamp::Call>(std::move(message)));
    case wamp::MessageType::kCancel: return HandleCancel(s, std::get<wamp::Cancel>(std::move(message)));
    case wamp::MessageType::kYield: return HandleYield(s, std::get<wamp::Yield>(std::move(message)));
    case wamp::MessageType::kError: return HandleInvocationError(s, std::get<wamp::ErrorMessage>(std::move(message)));
    case wamp::MessageType::kPublish: return HandlePublish(s, std::get<wamp::Publish>(std::move(message)));
    case wamp::MessageType::kSubscribe: return HandleSubscribe(s, std::get<wamp::Subscribe>(std::move(message)));
    case wamp::MessageType::kUnsubscribe:
      return HandleUnsubscribe(s, std::get<wamp::Unsubscribe>(std::move(message)));
    default:
      return ProtocolViolation(s, std::string(wamp::TypeName(type)) + " is not a message a client sends a router");
  }
}

void Router::Send(const SessionPtr& s, const wamp::Message& message) {
  if (s->state == Session::State::kClosed) return;
  s->transport->Send(wamp::Encode(s->transport->serializer(), message));
}

void Router::SendError(const SessionPtr& s, wamp::MessageType type, wamp::Id request, const std::string& uri,
                       const std::string& message) {
  wamp::ErrorMessage error;
  error.request_type = type;
  error.request = request;
  error.error = uri;
  error.payload.args = wamp::Value::array({message});
  Send(s, error);
}

void Router::Welcome(const SessionPtr& s, Role role, std::string authid, std::string authmethod,
                     std::string project_id) {
  s->state = Session::State::kEstablished;
  s->role = role;
  s->authid = std::move(authid);
  s->authmethod = std::move(authmethod);
  s->project_id = std::move(project_id);
  if (role == Role::kBoard) s->board_id = s->authid;
  s->hello_timer.reset();
  wamp::Welcome welcome;
  welcome.session = s->id;
  welcome.details = {
      {"authid", s->authid},
      {"authrole", RoleName(role)},
      {"authmethod", s->authmethod},
      {"authprovider", "edgewire"},
      {"realm", config_.realm},
      {"roles",
       {{"broker",
         {{"features",
           {{"publisher_exclusion", true},
            {"publisher_identification", true},
            {"pattern_based_subscription", true},
            {"subscriber_blackwhite_listing", true}}}}},
        {"dealer",
         {{"features",
           {{"progressive_call_results", true},
            {"call_canceling", true},
            {"call_timeout", true},
            {"caller_identification", true}}}}}}}};
  // How long this peer may stay silent (docs/ARCHITECTURE.md, WAMP, "Heartbeat"): a board times its own
  // checks of the conductor by it. A custom detail, so x_-prefixed (as Autobahn checks custom attributes).
  if (auto terms = s->transport->TellHeartbeat()) welcome.details["x_heartbeat"] = wamp::HeartbeatToJson(*terms);
  Send(s, welcome);
  RouterLog()->info("{} joined from {} ({}, {})", s->Describe(), s->transport->peer(), RoleName(role), s->authmethod);
  if (role == Role::kBoard) BoardJoined(s);
}

void Router::Abort(const SessionPtr& s, const std::string& reason, const std::string& message) {
  if (s->state == Session::State::kClosed) return;
  wamp::Abort abort;
  abort.reason = reason;
  abort.details = {{"message", message}};
  Send(s, abort);
  CloseSession(s, reason);
}

void Router::CloseSession(const SessionPtr& s, const std::string& reason) {
  auto transport = s->transport;
  Cleanup(s);
  transport->Close(reason);
}

void Router::ProtocolViolation(const SessionPtr& s, const std::string& message) {
  protocol_violations_total_.Inc();
  RouterLog()->info("{} from {}: protocol violation: {}", s->Describe(), s->transport->peer(), message);
  Abort(s, "wamp.error.protocol_violation", message);
}

void Router::HandleGoodbye(const SessionPtr& s, wamp::Goodbye&&) {
  wamp::Goodbye reply;
  reply.reason = "wamp.close.goodbye_and_out";
  Send(s, reply);
  CloseSession(s, "goodbye");
}

void Router::Cleanup(const SessionPtr& s) {
  if (s->state == Session::State::kClosed) return;
  bool was_established = s->state == Session::State::kEstablished;
  s->state = Session::State::kClosed;
  s->hello_timer.reset();
  s->ready_timer.reset();
  // Calls this session was serving fail; calls it made are dropped and their callees interrupted.
  for (auto [request, invocation] : std::map<wamp::Id, wamp::Id>(s->invocations_as_callee)) {
    CallOutcome outcome;
    // A code of its own, not kUnavailable: the call reached the callee and may have run.
    outcome.error_uri = std::string(WampErrorUri(ErrorCode::kCalleeLeft));
    outcome.payload.args = wamp::Value::array({"the callee left before answering"});
    FinishCall(invocation, std::move(outcome));
  }
  for (auto& [request, invocation] : s->calls_as_caller) {
    auto it = pending_.find(invocation);
    if (it == pending_.end()) continue;
    InterruptCallee(*it->second, "killnowait");
    if (auto callee = it->second->callee.lock()) callee->invocations_as_callee.erase(it->second->callee_request);
    call_deadlines_.erase({it->second->deadline, invocation});
    pending_.erase(it);
  }
  s->calls_as_caller.clear();
  for (wamp::Id reg : s->registrations) {
    auto it = registrations_.find(reg);
    if (it == registrations_.end()) continue;
    procedures_.erase(it->second.procedure);
    registrations_.erase(it);
  }
  s->registrations.clear();
  for (wamp::Id sub : s->subscriptions) DropSubscriber(sub, s->id);
  s->subscriptions.clear();
  if (s->role == Role::kBoard) BoardOffline(*s);
  credentials_.erase(s->id);
  sessions_.erase(s->id);
  sessions_gauge_.Set(static_cast<double>(sessions_.size()));
  if (!was_established) return;
  RouterLog()->info("{} left", s->Describe());
  if (s->role == Role::kBoard) {
    for (const auto& listener : session_ended_listeners_) listener(s->board_id, s->id);
  }
  PublishSessionLeft(*s);
}

// ---- revocation ----

namespace {
// How long a revocation is remembered for token checks in flight (they take milliseconds), and
// how many are.
constexpr std::chrono::seconds kRecentRevocationWindow{10};
constexpr size_t kMaxRecentRevocations = 1024;
}  // namespace

bool Router::RememberCredential(const SessionPtr& s, const auth::Principal& principal) {
  const auto now = std::chrono::steady_clock::now();
  while (!recent_revocations_.empty() && now - recent_revocations_.front().first > kRecentRevocationWindow)
    recent_revocations_.pop_front();
  for (const auto& [when, revocation] : recent_revocations_) {
    if (revocation.Covers(principal.token_id, principal.user_id)) {
      auth_failures_total_.Inc();
      RouterLog()->info("session={} from {}: refused ticket: {}", s->id, s->transport->peer(), revocation.message);
      Abort(s, "wamp.error.authentication_failed", "invalid or expired API token");
      return false;
    }
  }
  credentials_[s->id] = Credential{principal.token_id, principal.user_id};
  return true;
}

void Router::Revoke(const auth::Revocation& revocation) {
  boost::asio::post(executor_, [this, revocation, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.expired()) RevokeNow(revocation);
  });
}

void Router::RevokeNow(const auth::Revocation& revocation) {
  recent_revocations_.emplace_back(std::chrono::steady_clock::now(), revocation);
  if (recent_revocations_.size() > kMaxRecentRevocations) recent_revocations_.pop_front();
  std::vector<SessionPtr> ending;
  for (const auto& [id, credential] : credentials_) {
    if (!revocation.Covers(credential.token_id, credential.user_id)) continue;
    auto it = sessions_.find(id);
    if (it != sessions_.end()) ending.push_back(it->second);
  }
  for (const auto& s : ending) {
    if (s->state != Session::State::kEstablished) continue;
    EndSession(s, revocation.reason_uri, revocation.message);
  }
}

void Router::EndSession(const SessionPtr& s, const std::string& reason_uri, const std::string& message) {
  if (s->state != Session::State::kEstablished) return Abort(s, reason_uri, message);
  RouterLog()->info("{} closed: {}", s->Describe(), message);
  wamp::Goodbye goodbye;
  goodbye.reason = reason_uri;
  goodbye.details = {{"message", message}};
  Send(s, goodbye);
  // No wait for the peer's GOODBYE: its credential is gone, nothing more is routed for it.
  CloseSession(s, reason_uri);
}

void Router::PublishSessionLeft(const Session& s) {
  // Admins hear of every session, with its authid and authrole. Boards subscribe to this to drop
  // what a caller set up on them (GPIO watches), so a board hears only of the sessions whose ids
  // it was shown as a disclosed caller, and only their id: never who else uses the conductor.
  PublishOptions no_boards;
  no_boards.exclude_authrole = {RoleName(Role::kBoard)};
  wamp::Payload full;
  full.args = wamp::Value::array({s.id, s.authid, RoleName(s.role)});
  Publish(nullptr, "wamp.session.on_leave", full, no_boards);
  if (s.disclosed_to_boards.empty()) return;
  PublishOptions its_callees;
  its_callees.eligible = s.disclosed_to_boards;
  wamp::Payload redacted;
  redacted.args = wamp::Value::array({s.id});
  Publish(nullptr, "wamp.session.on_leave", redacted, its_callees);
}

// ---- board presence ----

void Router::BoardJoined(const SessionPtr& s) {
  // Deleted while it was authenticating (its credential was read before the deletion).
  const auto now = std::chrono::steady_clock::now();
  while (!recent_board_deletions_.empty() && now - recent_board_deletions_.front().first > kRecentRevocationWindow)
    recent_board_deletions_.pop_front();
  for (const auto& [when, board] : recent_board_deletions_) {
    if (board == s->board_id) return EndSession(s, "ew.close.board_deleted", "this board was deleted");
  }
  std::weak_ptr<Session> previous = boards_[s->board_id];
  // Point at the new session first, so that closing the old one is not seen as going offline.
  // Until the new one is ready the board's presence still names the old session (no offline
  // flap on a reconnect), but CallBoard answers Unavailable: the old session is gone and the new
  // one may not serve the procedure yet.
  boards_[s->board_id] = s;
  if (auto old = previous.lock(); old && old != s) {
    // A board that reconnects before its old socket timed out: the newer session wins.
    RouterLog()->info("{} replaces {} for the same board", s->Describe(), old->Describe());
    Abort(old, "wamp.close.replaced", "a newer session of this board took over");
  }
  board_projects_[s->board_id] = s->project_id;
  s->joined_at = now;
  ArmReadyGrace(s);
}

void Router::ArmReadyGrace(const SessionPtr& s) {
  if (s->ready || s->state != Session::State::kEstablished) return;
  s->ready_deadline =
      std::min(std::chrono::steady_clock::now() + config_.board_ready_grace, s->joined_at + config_.board_ready_max);
  if (s->ready_timer) return;  // waiting already: it waits again until the new deadline
  s->ready_timer = std::make_unique<boost::asio::steady_timer>(executor_);
  WaitReadyGrace(s);
}

void Router::WaitReadyGrace(const SessionPtr& s) {
  s->ready_timer->expires_at(s->ready_deadline);
  s->ready_timer->async_wait([this, weak = std::weak_ptr<Session>(s), alive = std::weak_ptr<bool>(alive_)](
                                 const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    auto s = weak.lock();
    if (!s || s->ready || s->state != Session::State::kEstablished || !s->ready_timer) return;
    if (std::chrono::steady_clock::now() < s->ready_deadline) return WaitReadyGrace(s);  // a REGISTER moved it
    RouterLog()->info("{} did not call {} within the readiness grace: online with {} procedure(s)", s->Describe(),
                      contract::presence::kReady.uri, s->registrations.size());
    BoardReady(s, /*by_grace=*/true);
  });
}

void Router::BoardReady(const SessionPtr& s, bool by_grace) {
  if (s->ready || s->state != Session::State::kEstablished) return;
  auto current = boards_.find(s->board_id);
  if (current == boards_.end() || current->second.lock() != s) return;  // replaced meanwhile
  s->ready = true;
  s->ready_timer.reset();
  if (by_grace) boards_ready_by_grace_total_.Inc();
  {
    std::lock_guard<std::mutex> lock(presence_mutex_);
    presence_[s->board_id] = BoardPresence{s->id, s->transport->peer(), std::chrono::system_clock::now()};
    boards_online_gauge_.Set(static_cast<double>(presence_.size()));
  }
  directory_.BoardSeen(s->board_id);
  PublishStatus(s->board_id, true);
  if (registered_listeners_.empty()) return;
  // The resync hooks (deployments, flows, placement caps) run now, for what the board serves,
  // in the order it registered (registration ids grow). A listener may end the session: copy.
  const std::string prefix = "ew.board." + s->board_id + ".";
  std::vector<std::string> suffixes;
  for (wamp::Id reg : s->registrations) {
    auto it = registrations_.find(reg);
    if (it != registrations_.end() && it->second.procedure.rfind(prefix, 0) == 0)
      suffixes.push_back(it->second.procedure.substr(prefix.size()));
  }
  const auto listeners = registered_listeners_;
  for (const auto& suffix : suffixes) {
    for (const auto& listener : listeners) listener(s->board_id, suffix);
  }
}

void Router::BoardOffline(const Session& s) {
  auto it = boards_.find(s.board_id);
  if (it == boards_.end()) return;
  auto current = it->second.lock();
  if (current && current.get() != &s) return;  // already replaced by a newer session
  boards_.erase(it);
  bool was_present = false;
  {
    std::lock_guard<std::mutex> lock(presence_mutex_);
    // The presence may name an older session this one replaced before it was ready.
    was_present = presence_.erase(s.board_id) > 0;
    boards_online_gauge_.Set(static_cast<double>(presence_.size()));
  }
  if (!was_present) return;  // never came online: nobody heard it was
  directory_.BoardSeen(s.board_id);
  PublishStatus(s.board_id, false);
}

void Router::PublishStatus(const std::string& board_id, bool online) {
  wamp::Payload payload;
  payload.kwargs = {{"boardId", board_id}, {"status", online ? "online" : "offline"},
                    {"time", std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count()}};
  payload.args = wamp::Value::array({online ? "online" : "offline"});
  Publish(nullptr, "ew.board." + board_id + ".status", payload);
}

std::optional<BoardPresence> Router::Presence(const std::string& board_id) const {
  std::lock_guard<std::mutex> lock(presence_mutex_);
  auto it = presence_.find(board_id);
  if (it == presence_.end()) return std::nullopt;
  return it->second;
}

void Router::DisconnectBoard(const std::string& board_id) {
  boost::asio::post(executor_, [this, board_id, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    board_projects_.erase(board_id);
    recent_board_deletions_.emplace_back(std::chrono::steady_clock::now(), board_id);
    if (recent_board_deletions_.size() > kMaxRecentRevocations) recent_board_deletions_.pop_front();
    auto it = boards_.find(board_id);
    if (it == boards_.end()) return;
    if (auto s = it->second.lock()) EndSession(s, "ew.close.board_deleted", "this board was deleted");
  });
}

void Router::ServeConductorProcedure(const std::string& uri, ConductorHandler handler) {
  boost::asio::post(executor_, [this, uri, handler = std::move(handler), alive = std::weak_ptr<bool>(alive_)]() mutable {
    if (!alive.expired()) conductor_procedures_[uri] = std::move(handler);
  });
}

void Router::OnBoardRegistered(RegisteredListener listener) {
  boost::asio::post(executor_, [this, listener = std::move(listener), alive = std::weak_ptr<bool>(alive_)]() mutable {
    if (!alive.expired()) registered_listeners_.push_back(std::move(listener));
  });
}

void Router::OnBoardPublication(PublicationListener listener) {
  boost::asio::post(executor_, [this, listener = std::move(listener), alive = std::weak_ptr<bool>(alive_)]() mutable {
    if (!alive.expired()) publication_listeners_.push_back(std::move(listener));
  });
}

void Router::OnBoardSessionEnded(SessionEndedListener listener) {
  boost::asio::post(executor_, [this, listener = std::move(listener), alive = std::weak_ptr<bool>(alive_)]() mutable {
    if (!alive.expired()) session_ended_listeners_.push_back(std::move(listener));
  });
}

void Router::SetFlowAccess(const std::string& flow_id, const std::string& project_id, std::vector<std::string> boards) {
  boost::asio::post(executor_, [this, flow_id, project_id, boards = std::move(boards),
                                alive = std::weak_ptr<bool>(alive_)]() mutable {
    if (alive.expired()) return;
    flows_[flow_id] = FlowAccess{std::move(project_id), std::set<std::string>(boards.begin(), boards.end())};
  });
}

void Router::ClearFlowAccess(const std::string& flow_id) {
  boost::asio::post(executor_, [this, flow_id, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    flows_.erase(flow_id);
    wire_buffer_.ClearFlow(flow_id);
  });
}

void Router::SetFlowWires(const std::string& flow_id, std::map<std::string, std::vector<std::string>> receivers) {
  boost::asio::post(executor_, [this, flow_id, receivers = std::move(receivers), alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.expired()) wire_buffer_.SetWires(flow_id, receivers);
  });
}

std::map<std::string, WireBufferStats> Router::FlowWireStats(const std::string& flow_id) const {
  return wire_buffer_.Stats(flow_id);
}

void Router::OnFlowPublication(FlowPublicationListener listener) {
  boost::asio::post(executor_, [this, listener = std::move(listener), alive = std::weak_ptr<bool>(alive_)]() mutable {
    if (!alive.expired()) flow_publication_listeners_.push_back(std::move(listener));
  });
}

void Router::PublishFlowEvent(const std::string& topic, wamp::Payload payload) {
  boost::asio::post(executor_, [this, topic, payload = std::move(payload), alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    BufferForAbsentReceivers(topic, payload);
    Publish(nullptr, topic, payload);
  });
}

bool Router::MayUseFlowTopic(const Session& s, const std::string& uri) const {
  auto flow_id = flows::FlowIdFromUri(uri);
  if (!flow_id) return false;
  auto it = flows_.find(*flow_id);
  if (it == flows_.end()) return false;
  if (s.role == Role::kBoard) return it->second.boards.count(s.board_id) > 0;
  if (s.role == Role::kOperator) return it->second.project_id == s.project_id;
  return false;
}

void Router::CallBoard(const std::string& board_id, const std::string& procedure, wamp::Payload payload,
                       std::chrono::milliseconds timeout, std::function<void(Result<wamp::Payload>)> done) {
  boost::asio::post(executor_, [this, board_id, procedure, payload = std::move(payload), timeout,
                                done = std::move(done), alive = std::weak_ptr<bool>(alive_)]() mutable {
    if (alive.expired()) return done(Unavailable("the conductor is shutting down"));
    auto it = boards_.find(board_id);
    std::shared_ptr<Session> session;
    if (it != boards_.end()) session = it->second.lock();
    if (!session) return done(Unavailable("board " + board_id + " is offline"));
    // Joined but not ready: what it serves may not be registered yet (issue 14).
    if (!session->ready) return done(Unavailable("board " + board_id + " is still registering its procedures"));
    Caller caller;
    caller.authid = "conductor";
    caller.authrole = "conductor";
    caller.internal = std::move(done);
    StartCall(std::move(caller), "ew.board." + board_id + "." + procedure, std::move(payload),
              wamp::Value::object(), timeout);
  });
}

// ---- authorization: role and URI prefix ----

Result<void> Router::MayRegister(const Session& s, const std::string& uri) const {
  if (s.role == Role::kAdmin) return Ok();
  if (s.role == Role::kBoard && wamp::HasPrefix(uri, "ew.board." + s.board_id)) return Ok();
  return PermissionDenied(std::string(RoleName(s.role)) + " " + s.authid + " may not register " + uri);
}

Result<void> Router::MayCall(const Session& s, const std::string& uri) const {
  // tunnel.* is the conductor's to call (CallBoard, which is not checked here): a tunnel.open
  // from anyone else would make the board connect to one of its own ports and dial the
  // conductor with a token of the caller's choosing (security review 3, L4). Admins too.
  const auto board_uri = wamp::SplitBoardUri(uri);
  if (board_uri && wamp::HasPrefix(board_uri->suffix, contract::tunnel::kPrefix))
    return PermissionDenied("ew.board." + std::string(board_uri->board_id) + "." + contract::tunnel::kPrefix +
                            ".* is called by the conductor only");
  if (s.role == Role::kAdmin) return Ok();
  if (s.role == Role::kBoard) {
    if (wamp::HasPrefix(uri, "ew.conductor")) return Ok();
    return PermissionDenied("a board may call only ew.conductor.* procedures");
  }
  if (s.role == Role::kOperator) {
    if (board_uri) {
      // Rebooting a board is for admins, over WAMP as over REST (docs/SECURITY.md, issue 16).
      if (board_uri->suffix == contract::sys::kReboot.suffix) return PermissionDenied("only an admin may reboot a board");
      // Installing an agent package can brick the board: admins only (issue 16).
      if (board_uri->suffix == contract::update::kUpdate.suffix)
        return PermissionDenied("only an admin may update a board's agent");
      auto it = board_projects_.find(std::string(board_uri->board_id));
      if (it != board_projects_.end() && it->second == s.project_id) return Ok();
    }
  }
  return PermissionDenied("user " + s.authid + " may not call " + uri);
}

Result<void> Router::MayPublish(const Session& s, const std::string& uri) const {
  if (s.role == Role::kAdmin) return Ok();
  if (s.role == Role::kBoard && wamp::HasPrefix(uri, "ew.board." + s.board_id)) return Ok();
  if (MayUseFlowTopic(s, uri)) return Ok();
  return PermissionDenied(std::string(RoleName(s.role)) + " " + s.authid + " may not publish to " + uri);
}

}  // namespace ew::router
