// One connection of the board session: the WebSocket, the WAMP-CRA join, the registrations,
// and the messages answered here instead of by Autobahn (CHALLENGE, GOODBYE, INTERRUPT,
// INVOCATION; see session_runner_impl.hpp for why).
#include <atomic>

#include <fmt/format.h>

#include <autobahn/wamp_register_request.hpp>

#include "common/log/log.hpp"
#include "common/contract/presence.hpp"
#include "common/wamp/heartbeat.hpp"
#include "device-agent/session/session_runner_impl.hpp"
#include "device-agent/session/wamp_payload.hpp"

namespace ew::agent::session {

namespace {

// WAMP message codes the runner looks at.
constexpr int kWelcome = 2;
constexpr int kAbort = 3;
constexpr int kChallenge = 4;
constexpr int kAuthenticate = 5;
constexpr int kGoodbye = 6;
constexpr int kError = 8;
constexpr int kInvocation = 68;
constexpr int kInterrupt = 69;

const ew::log::Logger Log{"agent"};

}  // namespace

void SessionRunner::Impl::Connect() {
  auto attempt = std::make_unique<Attempt>();
  attempt->id = ++last_attempt_id_;
  const uint64_t id = attempt->id;
  // While probing, the probe that succeeded was logged; the attempt count is per kind of failure.
  if (policy_.state() == ReconnectState::kProbing) {
    Log()->debug("connecting to {}", options_.url);
  } else {
    Log()->info("connecting to {} (attempt {})", options_.url, policy_.attempt() + 1);
  }
  policy_.OnConnecting();

  WsTransport::Events events;
  auto alive = Alive();
  events.on_open = [this, alive, id] {
    if (!alive.expired()) OnOpen(id);
  };
  events.on_closed = [this, alive, id](const std::string& reason) {
    if (!alive.expired()) OnClosed(id, reason);
  };
  events.intercept = [this, alive, id](const autobahn::wamp_message& message) {
    return !alive.expired() && Intercept(id, message);
  };
  events.on_handler_error = [this, alive, id](int type, const std::string& what) {
    if (alive.expired() || !IsCurrent(id)) return;
    Fail(fmt::format("cannot handle WAMP message {} from the conductor: {}", type, what),
         websocketpp::close::status::protocol_error);
  };
  WsTransportOptions transport_options;
  transport_options.ping_interval = options_.ping_interval;
  transport_options.idle_timeout = options_.idle_timeout;
  if (wss_client_) {
    attempt->transport = std::make_shared<BasicWsTransport<WssClient>>(
        *wss_client_, io_, options_.url, transport_options, std::move(events), &error_log_, options_.trust);
  } else {
    attempt->transport = std::make_shared<BasicWsTransport<WsClient>>(*ws_client_, io_, options_.url, transport_options,
                                                                     std::move(events), &error_log_);
  }
  attempt->session = std::make_shared<autobahn::wamp_session>(io_, /*debug_enabled=*/false);
  attempt->transport->attach(attempt->session);
  attempt_ = std::move(attempt);
  attempt_->transport->connect();

  join_timer_.expires_after(options_.join_timeout);
  join_timer_.async_wait([this, alive, id](const boost::system::error_code& ec) {
    if (ec || alive.expired() || !IsCurrent(id)) return;
    if (attempt_->phase == Phase::kReady || attempt_->phase == Phase::kLeaving) return;
    Fail(fmt::format("no session after {}", FormatDelay(options_.join_timeout)),
         websocketpp::close::status::going_away);
  });
}


void SessionRunner::Impl::Fail(const std::string& reason, websocketpp::close::status::value code) {
  if (!attempt_) return;
  if (attempt_->failure.empty()) attempt_->failure = reason;
  if (!attempt_->kind) attempt_->kind = DisconnectKind::kFailed;
  attempt_->transport->Close(code, reason);
}

void SessionRunner::Impl::OnOpen(uint64_t id) {
  if (!IsCurrent(id)) return;
  Attempt& attempt = *attempt_;
  attempt.opened = true;
  attempt.phase = Phase::kJoining;
  try {
    attempt.session->start();  // synchronous on the io thread; marks the session running
  } catch (const std::exception& e) {
    return Fail(std::string("cannot start the WAMP session: ") + e.what(), websocketpp::close::status::internal_endpoint_error);
  }
  Continue(attempt.session->join(options_.realm, {"wampcra"}, options_.board_id), id,
           [this](uint64_t id, ew::Result<uint64_t> joined) { OnJoined(id, std::move(joined)); });
}

void SessionRunner::Impl::OnJoined(uint64_t id, ew::Result<uint64_t> joined) {
  if (!IsCurrent(id)) return;
  Attempt& attempt = *attempt_;
  if (!joined) {
    std::string why = attempt.abort_reason.empty() ? joined.error().message : attempt.abort_reason;
    attempt.kind = IsRefusal(why) ? DisconnectKind::kRefused : DisconnectKind::kFailed;
    return Fail("join refused: " + why, websocketpp::close::status::normal);
  }
  attempt.session_id = *joined;
  attempt.phase = Phase::kRegistering;
  Log()->info("joined as board={} session={} realm={}", options_.board_id, attempt.session_id, options_.realm);
  if (procedures_.empty() && subscriptions_.empty()) return OnRegistered(id, "", ew::Ok());
  attempt.registrations_pending = procedures_.size() + subscriptions_.size();
  for (const auto& procedure : procedures_) {
    std::string uri = "ew.board." + options_.board_id + "." + procedure.suffix;
    autobahn::provide_options provide_options;
    if (procedure.disclose_caller) provide_options.emplace("disclose_caller", msgpack::object(true));
    // The registration id is learnt where REGISTERED is handled (inline, before any INVOCATION
    // for it can be read), so that OnInvocation answers every INVOCATION of ours.
    auto provided = attempt.session->provide(uri, UnexpectedInvocation(uri), provide_options)
                        .then(boost::launch::sync, [this, alive = Alive(), id, uri, handler = procedure.handler](
                                                       boost::future<autobahn::wamp_registration> done) {
                          autobahn::wamp_registration registration = done.get();
                          if (!alive.expired() && IsCurrent(id))
                            attempt_->registrations[registration.id()] =
                                std::make_shared<const Attempt::Registered>(Attempt::Registered{uri, handler});
                          return registration;
                        });
    Continue(std::move(provided), id, [this, uri](uint64_t id, ew::Result<autobahn::wamp_registration> registered) {
      OnRegistered(id, "register " + uri, registered ? ew::Ok() : ew::Result<void>(tl::unexpected(registered.error())));
    });
  }
  for (const auto& subscription : subscriptions_) {
    Continue(attempt.session->subscribe(subscription.topic, MakeEventHandler(subscription, attempt.replies_open)), id,
             [this, topic = subscription.topic](uint64_t id, ew::Result<autobahn::wamp_subscription> subscribed) {
               OnRegistered(id, "subscribe " + topic,
                            subscribed ? ew::Ok() : ew::Result<void>(tl::unexpected(subscribed.error())));
             });
  }
}

void SessionRunner::Impl::OnRegistered(uint64_t id, const std::string& what, ew::Result<void> registered) {
  if (!IsCurrent(id) || attempt_->phase != Phase::kRegistering) return;
  Attempt& attempt = *attempt_;
  if (!registered) {
    // Typically wamp.error.procedure_already_exists: the conductor still holds our previous
    // session (it notices a dead connection within its heartbeat timeout). Retry later.
    return Fail(what + " refused: " + registered.error().message, websocketpp::close::status::normal);
  }
  if (attempt.registrations_pending > 0) --attempt.registrations_pending;
  if (attempt.registrations_pending > 0) return;
  attempt.phase = Phase::kReady;
  attempt.was_ready = true;
  attempt.ready_at = Clock::now();
  policy_.OnReady();
  join_timer_.cancel();
  Log()->info("ready: board={} session={}: {} procedures registered", options_.board_id, attempt.session_id,
               procedures_.size());
  // Tell the conductor, before anything else goes out in this session: it counts the board as
  // online (and calls it, and resyncs its deployments and flows) only from this CALL on, so no
  // call meets a procedure not registered yet (issue 14). A conductor older than the call
  // answers no_such_procedure and brings the board online after its own grace.
  Call(contract::presence::kReady.uri, rpc::Reply{}, std::chrono::seconds(10),
       [board = options_.board_id](ew::Result<rpc::Reply> answer) {
         if (!answer) Log()->debug("board={} {}: {}", board, contract::presence::kReady.uri, answer.error().message);
       });
  for (auto& [topic, dynamic] : dynamic_) {
    dynamic.subscription.reset();
    SubscribeNow(topic);
  }
  for (SessionObserver* observer : observers_) observer->OnReady(options_.url, attempt.session_id);
}

autobahn::wamp_procedure SessionRunner::Impl::UnexpectedInvocation(const std::string& uri) {
  return [uri](autobahn::wamp_invocation invocation) {
    Log()->warn("invocation of {} reached Autobahn instead of the runner; answering an error", uri);
    invocation->error(std::string(ew::WampErrorUri(ew::ErrorCode::kInternal)));
  };
}

bool SessionRunner::Impl::OnInvocation(Attempt& attempt, const autobahn::wamp_message& message) {
  // Autobahn's own checks (process_invocation): anything else is left to it, to refuse.
  if (message.size() < 4 || message.size() > 6 || message.field(1).type != msgpack::type::POSITIVE_INTEGER ||
      message.field(2).type != msgpack::type::POSITIVE_INTEGER || message.field(3).type != msgpack::type::MAP ||
      (message.size() > 4 && message.field(4).type != msgpack::type::ARRAY) ||
      (message.size() > 5 && message.field(5).type != msgpack::type::MAP))
    return false;
  auto registered = attempt.registrations.find(message.field(2).as<uint64_t>());
  if (registered == attempt.registrations.end()) return false;
  uint64_t caller = 0;
  if (const auto* c = Find(message.field(3), "caller"); c && c->type == msgpack::type::POSITIVE_INTEGER)
    caller = c->as<uint64_t>();
  // Held (by the reply too): the handler may drop the registration table (a reconnect) while it runs.
  Invoke(attempt, registered->second, message.field(1).as<uint64_t>(), message.size() > 4 ? &message.field(4) : nullptr,
         message.size() > 5 ? &message.field(5) : nullptr, caller);
  return true;
}

void SessionRunner::Impl::Invoke(Attempt& attempt, std::shared_ptr<const Attempt::Registered> procedure,
                                 uint64_t request, const msgpack::object* args, const msgpack::object* kwargs,
                                 uint64_t caller) {
  // Called once (the Responder contract), from any thread: a reply given on the io thread (a
  // handler that answers at once, as sys.ping does) is sent at once, without a round through
  // the io_context's queue and its poll for events; one given on another thread (a function's
  // run) is posted to the io thread. Dropped once this attempt has ended.
  struct Reply {
    Reply(boost::asio::io_context& io, const Attempt& attempt, std::shared_ptr<const Attempt::Registered> procedure,
          uint64_t request, size_t max_message_bytes)
        : io(io), transport(attempt.transport), open(attempt.replies_open), procedure(std::move(procedure)),
          request(request), max_message_bytes(max_message_bytes) {}
    boost::asio::io_context& io;
    std::weak_ptr<WsTransport> transport;
    std::weak_ptr<bool> open;
    std::shared_ptr<const Attempt::Registered> procedure;  // its uri names the reply in logs
    uint64_t request;
    size_t max_message_bytes;
    std::atomic<bool> given{false};  // a second reply (a handler's bug) is dropped
  };
  // The registration outlives this call: the reply below holds it.
  const std::string& uri = procedure->uri;
  const rpc::Handler& handler = procedure->handler;
  auto reply = std::make_shared<Reply>(io_, attempt, std::move(procedure), request, options_.max_message_bytes);
  auto respond = [reply](ew::Result<rpc::Reply> result) {
    if (reply->given.exchange(true)) return;
    boost::asio::dispatch(reply->io, [reply, result = std::move(result)]() mutable {
      auto transport = reply->transport.lock();
      if (reply->open.expired() || !transport) return;  // that session has ended (or said GOODBYE)
      try {
        transport->SendEncoded(
            EncodeReply(reply->request, std::move(result), reply->max_message_bytes, reply->procedure->uri));
      } catch (const std::exception& e) {
        Log()->warn("reply to {} dropped: {}", reply->procedure->uri, e.what());
      }
    });
  };
  // Built in place: a default Request would allocate an empty list and dict only to have them replaced.
  wamp::Payload payload{wamp::Value(), wamp::Value()};
  try {
    payload.args = args ? MsgpackToJson(*args) : wamp::Value::array();
    payload.kwargs = kwargs ? MsgpackToJson(*kwargs) : wamp::Value::object();
  } catch (const std::exception& e) {
    return respond(ew::InvalidArgument(std::string("arguments are not representable as JSON: ") + e.what()));
  }
  const rpc::Request call{std::move(payload), uri, caller};
  Log()->debug("invocation of {}", uri);
  try {
    handler(call, rpc::Responder(respond));
  } catch (const std::exception& e) {
    respond(ew::Internal(std::string("the procedure failed: ") + e.what()));
  } catch (...) {
    respond(ew::Internal("the procedure failed"));
  }
}


autobahn::wamp_event_handler SessionRunner::Impl::MakeEventHandler(const rpc::Subscription& subscription,
                                              const std::shared_ptr<bool>& open_flag) {
  return [topic = subscription.topic, handler = subscription.handler,
          open = std::weak_ptr<bool>(open_flag)](const autobahn::wamp_event& event) {
    if (open.expired()) return;
    rpc::Request call;
    call.procedure = topic;
    try {
      if (event.number_of_arguments() > 0) call.args = MsgpackToJson(event.arguments<msgpack::object>());
      if (event.number_of_kw_arguments() > 0) call.kwargs = MsgpackToJson(event.kw_arguments<msgpack::object>());
    } catch (const std::exception& e) {
      Log()->debug("event on {} dropped: {}", topic, e.what());
      return;
    }
    handler(call);
  };
}

bool SessionRunner::Impl::Intercept(uint64_t id, const autobahn::wamp_message& message) {
  int type = message.field(0).as<int>();
  // An INVOCATION still read on an attempt that has ended is dropped: its reply could not go
  // out, and Autobahn would answer it as a procedure it does not know.
  if (!IsCurrent(id)) return type == kInvocation;
  Attempt& attempt = *attempt_;
  try {
    switch (type) {
      case kWelcome:
        AdoptHeartbeat(attempt, message);
        return false;  // Autobahn completes the join
      case kAbort:
        attempt.abort_reason = DescribeReason(message, 2, 1);
        return false;  // Autobahn fails the join future with it
      case kChallenge:
        OnChallenge(attempt, message);
        return true;
      case kGoodbye:
        OnGoodbye(attempt, DescribeReason(message, 2, 1));
        return true;
      case kInterrupt:
        OnInterrupt(attempt, message);
        return true;
      case kInvocation:
        return OnInvocation(attempt, message);
      default:
        return false;
    }
  } catch (const std::exception& e) {
    Fail(fmt::format("malformed WAMP message {} from the conductor: {}", type, e.what()),
         websocketpp::close::status::protocol_error);
    return true;
  }
}

const msgpack::object* SessionRunner::Impl::Find(const msgpack::object& map, const char* key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR && kv.key.as<std::string>() == key) return &kv.val;
  }
  return nullptr;
}

void SessionRunner::Impl::AdoptHeartbeat(Attempt& attempt, const autobahn::wamp_message& message) {
  if (message.size() < 3 || !attempt.transport) return;
  const msgpack::object* terms = Find(message.field(2), "x_heartbeat");
  if (terms == nullptr || terms->type != msgpack::type::MAP) return;  // an older conductor: the options' checks
  std::optional<wamp::HeartbeatTerms> adopted;
  try {
    adopted = wamp::HeartbeatFromJson(MsgpackToJson(*terms));
  } catch (const std::exception&) {
  }
  if (adopted)
    attempt.transport->AdoptHeartbeat(*adopted);
  else
    Log()->debug("WELCOME's x_heartbeat is not {{interval_ms, timeout_ms}} within bounds; ignored");
}

void SessionRunner::Impl::OnChallenge(Attempt& attempt, const autobahn::wamp_message& message) {
  if (attempt.phase != Phase::kJoining) throw std::runtime_error("CHALLENGE outside of the join");
  if (message.size() < 3 || message.field(1).type != msgpack::type::STR)
    throw std::runtime_error("CHALLENGE without an authmethod");
  std::string method = message.field(1).as<std::string>();
  if (method != "wampcra")
    return Fail("the conductor asked for authmethod \"" + method + "\"; boards authenticate with wampcra",
                websocketpp::close::status::policy_violation);
  const msgpack::object& extra = message.field(2);
  const msgpack::object* challenge = Find(extra, "challenge");
  if (!challenge || challenge->type != msgpack::type::STR) throw std::runtime_error("wampcra CHALLENGE without a challenge");
  std::string salt;
  uint64_t iterations = 0, keylen = 0;
  if (const auto* s = Find(extra, "salt"); s && s->type == msgpack::type::STR) salt = s->as<std::string>();
  if (const auto* i = Find(extra, "iterations"); i && i->type == msgpack::type::POSITIVE_INTEGER)
    iterations = i->as<uint64_t>();
  if (const auto* k = Find(extra, "keylen"); k && k->type == msgpack::type::POSITIVE_INTEGER) keylen = k->as<uint64_t>();
  // Bounded before any work: a CHALLENGE asking for 2^31 PBKDF2 rounds would hold the io
  // thread for hours. Refuse it and say so; the next attempt may meet a saner conductor.
  if (auto sane = CheckCraParameters(salt, iterations, keylen); !sane)
    return Fail("refusing the conductor's wampcra CHALLENGE: " + sane.error().message,
                websocketpp::close::status::policy_violation);

  autobahn::wamp_message authenticate(3);
  authenticate.set_field(0, kAuthenticate);
  authenticate.set_field(1, key_.Sign(challenge->as<std::string>(), salt, static_cast<int>(iterations),
                                      static_cast<int>(keylen)));
  authenticate.set_field(2, std::map<std::string, std::string>());
  attempt.transport->send_message(std::move(authenticate));
}

std::string SessionRunner::Impl::DescribeReason(const autobahn::wamp_message& message, size_t reason_index, size_t details_index) {
  std::string text = message.size() > reason_index && message.field(reason_index).type == msgpack::type::STR
                         ? message.field(reason_index).as<std::string>()
                         : "no reason";
  if (message.size() > details_index) {
    const auto* detail = Find(message.field(details_index), "message");
    if (detail && detail->type == msgpack::type::STR) text += ": " + detail->as<std::string>();
  }
  return text;
}

void SessionRunner::Impl::OnGoodbye(Attempt& attempt, const std::string& reason) {
  if (attempt.phase == Phase::kLeaving) {
    // The router confirmed our GOODBYE.
    leave_timer_.cancel();
    attempt.transport->Close(websocketpp::close::status::normal, "agent stopping");
    return;
  }
  // The conductor ends the session (shutdown, board deleted, kicked): reply, then close. A
  // deleted board is refused; otherwise the conductor is probably going away: probe it.
  if (attempt.failure.empty()) attempt.failure = "the conductor ended the session: " + reason;
  if (!attempt.kind) attempt.kind = IsRefusal(reason) ? DisconnectKind::kRefused : DisconnectKind::kUnreachable;
  SendGoodbye(attempt, "wamp.close.goodbye_and_out");
  attempt.transport->Close(websocketpp::close::status::normal, attempt.failure);
}

void SessionRunner::Impl::SendGoodbye(Attempt& attempt, const std::string& reason) {
  if (attempt.goodbye_sent) return;
  attempt.goodbye_sent = true;
  // Nothing of this session may follow its GOODBYE: late replies and events are dropped.
  attempt.replies_open.reset();
  try {
    attempt.session->leave(reason);
  } catch (const std::exception& e) {
    Log()->debug("GOODBYE not sent: {}", e.what());
  }
}


void SessionRunner::Impl::OnInterrupt(Attempt& attempt, const autobahn::wamp_message& message) {
  if (message.size() < 2 || message.field(1).type != msgpack::type::POSITIVE_INTEGER)
    throw std::runtime_error("INTERRUPT without a request id");
  uint64_t request = message.field(1).as<uint64_t>();
  std::string mode = "kill";
  if (message.size() > 2) {
    const auto* m = Find(message.field(2), "mode");
    if (m && m->type == msgpack::type::STR) mode = m->as<std::string>();
  }
  Log()->debug("INTERRUPT for invocation {} (mode {})", request, mode);
  if (mode == "killnowait" || !attempt.transport->is_connected()) return;
  autobahn::wamp_message error(5);
  error.set_field(0, kError);
  error.set_field(1, kInvocation);
  error.set_field(2, request);
  error.set_field(3, std::map<std::string, std::string>());
  error.set_field(4, std::string("wamp.error.canceled"));
  attempt.transport->send_message(std::move(error));
}

}  // namespace ew::agent::session
