// The reconnect loop around one Autobahn session at a time.
//
// Threading: everything runs on the io thread. Autobahn's futures are continued with
// boost::launch::sync (inline, where the promise is set: on the io thread, inside message
// handling) and the continuation only posts the outcome back to the io_context, so runner
// state never changes in the middle of Autobahn's own code.
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
//  - on_detach() asserts the session was stopped, so teardown is leave() → stop() →
//    WsTransport::Release(), each guarded, and the objects die in a later handler.
#include "device-agent/session/session_runner.hpp"

#include <cctype>
#include <map>
#include <optional>

#include <fmt/format.h>

#include <autobahn/boost_config.hpp>
#include <autobahn/wamp_call_options.hpp>
#include <autobahn/wamp_call_result.hpp>
#include <autobahn/wamp_event.hpp>
#include <autobahn/wamp_invocation.hpp>
#include <autobahn/wamp_register_request.hpp>
#include <autobahn/wamp_registration.hpp>
#include <autobahn/wamp_session.hpp>
#include <autobahn/wamp_subscription.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/json/guarded_json.hpp"
#include "common/log/log.hpp"
#include "common/wamp/limits.hpp"
#include "device-agent/session/cra_key.hpp"
#include "device-agent/session/ws_transport.hpp"

namespace ew::agent::session {

namespace {

using Clock = std::chrono::steady_clock;

// WAMP message codes the runner looks at.
constexpr int kAbort = 3;
constexpr int kChallenge = 4;
constexpr int kAuthenticate = 5;
constexpr int kGoodbye = 6;
constexpr int kError = 8;
constexpr int kInvocation = 68;
constexpr int kInterrupt = 69;

const ew::log::Logger Log{"agent"};

// msgpack → JSON through bytes: nlohmann reads msgpack, bin included, through the guarded
// parser. Throws std::runtime_error when the value is deeper than a WAMP message may be.
nlohmann::json MsgpackToJson(const msgpack::object& object) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, object);
  json::ParseLimits limits;
  limits.max_bytes = buffer.size();
  limits.max_depth = wamp::kMaxPayloadDepth;
  limits.what = "";
  auto value = json::Parse(std::string_view(buffer.data(), buffer.size()), limits, json::Format::kMsgpack);
  if (!value) throw std::runtime_error(value.error().message);
  return std::move(*value);
}

// A payload as Autobahn sends it, refused here when the router would refuse it (nesting or
// size): the error then belongs to this one call or publication, instead of the router ending
// the board's whole session with a protocol violation.
struct EncodedPayload {
  msgpack::object_handle args;
  msgpack::object_handle kwargs;
};

ew::Result<EncodedPayload> Encode(const rpc::Reply& payload, size_t max_message_bytes, std::string_view what) {
  const nlohmann::json empty_args = nlohmann::json::array();
  const nlohmann::json empty_kwargs = nlohmann::json::object();
  const nlohmann::json& args = payload.args.is_array() ? payload.args : empty_args;
  const nlohmann::json& kwargs = payload.kwargs.is_object() ? payload.kwargs : empty_kwargs;
  // Depth first: to_msgpack recurses per level.
  EW_TRY_VOID(wamp::CheckPayloadDepth(args, kwargs, what));
  std::vector<uint8_t> args_bytes = nlohmann::json::to_msgpack(args);
  std::vector<uint8_t> kwargs_bytes = nlohmann::json::to_msgpack(kwargs);
  EW_TRY_VOID(wamp::CheckEncodedSize(args_bytes.size() + kwargs_bytes.size(), max_message_bytes, what));
  return EncodedPayload{
      msgpack::unpack(reinterpret_cast<const char*>(args_bytes.data()), args_bytes.size()),
      msgpack::unpack(reinterpret_cast<const char*>(kwargs_bytes.data()), kwargs_bytes.size())};
}

void SendError(const autobahn::wamp_invocation& invocation, const ew::Error& error) {
  std::vector<std::string> args{error.message};
  std::map<std::string, std::string> kwargs{{"code", std::string(ew::ErrorCodeName(error.code))},
                                            {"message", error.message}};
  invocation->error(std::string(ew::WampErrorUri(error.code)), args, kwargs);
}

// Sends the outcome of a procedure. Io thread. The session may be gone or closing: then the
// router has already failed the call and the reply is dropped.
void SendReply(const autobahn::wamp_invocation& invocation, const ew::Result<rpc::Reply>& result,
               size_t max_message_bytes) {
  try {
    if (!result) return SendError(invocation, result.error());
    auto encoded = Encode(*result, max_message_bytes, "the result");
    if (!encoded) {
      Log()->warn("result of {} refused: {}", invocation->uri(), encoded.error().message);
      return SendError(invocation, encoded.error());
    }
    invocation->result(encoded->args.get(), encoded->kwargs.get());
  } catch (const std::exception& e) {
    Log()->debug("reply to {} dropped: {}", invocation->uri(), e.what());
  }
}

}  // namespace

std::string FormatDelay(std::chrono::milliseconds delay) {
  if (delay < std::chrono::seconds(1)) return fmt::format("{}ms", delay.count());
  return fmt::format("{:.1f}s", static_cast<double>(delay.count()) / 1000.0);
}

class SessionRunner::Impl {
 public:
  Impl(boost::asio::io_context& io, SessionOptions options, rpc::ProcedureTable procedures, SessionObserver* observer,
       Backoff::RandomSource random)
      : io_(io),
        options_(std::move(options)),
        procedures_(std::move(procedures)),
        observers_(observer ? std::vector<SessionObserver*>{observer} : std::vector<SessionObserver*>{}),
        backoff_(options_.reconnect_initial, options_.reconnect_max, std::move(random)),
        key_(options_.secret),
        retry_timer_(io),
        join_timer_(io),
        leave_timer_(io),
        stop_timer_(io) {
    // One endpoint, of the URL's kind: a ws:// agent never builds TLS state.
    const std::string scheme = options_.url.substr(0, options_.url.find(':'));
    if (scheme.size() == 3 && std::tolower(static_cast<unsigned char>(scheme[0])) == 'w' &&
        std::tolower(static_cast<unsigned char>(scheme[1])) == 's' &&
        std::tolower(static_cast<unsigned char>(scheme[2])) == 's') {
      wss_client_ = std::make_unique<WssClient>();
      InitClient(*wss_client_);
    } else {
      ws_client_ = std::make_unique<WsClient>();
      InitClient(*ws_client_);
    }
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

  ~Impl() {
    // Cancels nothing the io_context would still run (it has stopped); just breaks the
    // session <-> transport cycle of an attempt still in flight.
    if (attempt_) Teardown(*attempt_);
  }

  void AddSubscription(rpc::Subscription subscription) { subscriptions_.push_back(std::move(subscription)); }
  void AddObserver(SessionObserver* observer) { observers_.push_back(observer); }

  bool Publish(const std::string& topic, const rpc::Reply& payload) {
    if (!attempt_ || attempt_->phase != Phase::kReady) return false;
    try {
      auto encoded = Encode(payload, options_.max_message_bytes, "the event");
      if (!encoded) {
        Log()->warn("publication to {} refused: {}", topic, encoded.error().message);
        return false;
      }
      // Fire and forget: Autobahn sends inline on this (the io) thread and resolves at once.
      attempt_->session->publish(topic, encoded->args.get(), encoded->kwargs.get());
      return true;
    } catch (const std::exception& e) {
      Log()->debug("publication to {} dropped: {}", topic, e.what());
      return false;
    }
  }

  void Subscribe(const std::string& topic, std::function<void(const rpc::Request&)> handler) {
    dynamic_[topic] = Dynamic{std::move(handler), std::nullopt, 0};
    if (attempt_ && attempt_->phase == Phase::kReady) SubscribeNow(topic);
  }

  void Unsubscribe(const std::string& topic) {
    auto it = dynamic_.find(topic);
    if (it == dynamic_.end()) return;
    if (it->second.subscription && attempt_ && attempt_->id == it->second.attempt && attempt_->phase == Phase::kReady) {
      try {
        attempt_->session->unsubscribe(*it->second.subscription);  // fire and forget
      } catch (const std::exception& e) {
        Log()->debug("unsubscribe {}: {}", topic, e.what());
      }
    }
    dynamic_.erase(it);
  }

  // SUBSCRIBE for one dynamic topic in the current (ready) session.
  void SubscribeNow(const std::string& topic) {
    Attempt& attempt = *attempt_;
    rpc::Subscription subscription{topic, dynamic_[topic].handler};
    try {
      Continue(attempt.session->subscribe(topic, MakeEventHandler(subscription, attempt.replies_open)), attempt.id,
               [this, topic](uint64_t id, ew::Result<autobahn::wamp_subscription> subscribed) {
                 if (!IsCurrent(id)) return;
                 if (!subscribed) {
                   Log()->warn("subscribe {} refused: {}", topic, subscribed.error().message);
                   return;
                 }
                 auto it = dynamic_.find(topic);
                 if (it == dynamic_.end()) {  // unsubscribed meanwhile
                   try {
                     attempt_->session->unsubscribe(*subscribed);
                   } catch (...) {
                   }
                   return;
                 }
                 it->second.subscription = *subscribed;
                 it->second.attempt = id;
               });
    } catch (const std::exception& e) {
      Log()->debug("subscribe {}: {}", topic, e.what());
    }
  }

  void Start() {
    if (started_) return;
    started_ = true;
    Connect();
  }

  void Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds timeout,
            std::function<void(ew::Result<rpc::Reply>)> done) {
    // `finish` runs `done` once: from the RESULT/ERROR, or from our own timer if the router
    // never answers (the connection can die with the call in flight).
    auto pending = std::make_shared<std::function<void(ew::Result<rpc::Reply>)>>(std::move(done));
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, timeout + std::chrono::seconds(1));
    auto finish = [pending, timer](ew::Result<rpc::Reply> result) {
      if (!*pending) return;
      auto callback = std::move(*pending);
      *pending = nullptr;
      timer->cancel();
      callback(std::move(result));
    };
    if (!attempt_ || attempt_->phase != Phase::kReady) {
      boost::asio::post(io_, [finish] { finish(ew::Unavailable("not connected to the conductor")); });
      return;
    }
    timer->async_wait([finish, procedure, timeout](const boost::system::error_code& ec) {
      if (!ec) finish(ew::DeadlineExceeded(procedure + ": no answer within " + FormatDelay(timeout)));
    });
    boost::future<autobahn::wamp_call_result> future;
    try {
      auto encoded = Encode(arguments, options_.max_message_bytes, "the call's arguments");
      if (!encoded) {
        boost::asio::post(io_, [finish, error = encoded.error()] { finish(tl::unexpected<ew::Error>(error)); });
        return;
      }
      autobahn::wamp_call_options options;
      options.set_timeout(timeout);
      future = attempt_->session->call(procedure, encoded->args.get(), encoded->kwargs.get(), options);
    } catch (const std::exception& e) {
      boost::asio::post(io_, [finish, what = std::string(e.what())] { finish(ew::Unavailable(what)); });
      return;
    }
    future.then(boost::launch::sync, [io = &io_, alive = Alive(), finish](boost::future<autobahn::wamp_call_result> f) {
      ew::Result<rpc::Reply> result = ew::Internal("no result");
      try {
        autobahn::wamp_call_result answer = f.get();
        rpc::Reply reply;
        if (answer.number_of_arguments() > 0) reply.args = MsgpackToJson(answer.arguments<msgpack::object>());
        if (answer.number_of_kw_arguments() > 0) reply.kwargs = MsgpackToJson(answer.kw_arguments<msgpack::object>());
        result = std::move(reply);
      } catch (const std::exception& e) {
        // Autobahn reports an ERROR as "<error uri>[: <what>]".
        const std::string what = e.what();
        result = ew::MakeError(ew::ErrorCodeFromWampUri(what.substr(0, what.find(':'))), what);
      }
      boost::asio::post(*io, [alive, finish, result = std::move(result)]() mutable {
        if (!alive.expired()) finish(std::move(result));
      });
    });
  }

  void Stop(std::function<void()> done) {
    if (stopping_) return;
    stopping_ = true;
    stop_done_ = std::move(done);
    retry_timer_.cancel();
    join_timer_.cancel();
    if (!attempt_) return FinishStop();
    stop_timer_.expires_after(options_.stop_timeout);
    stop_timer_.async_wait([this, alive = Alive()](const boost::system::error_code& ec) {
      if (ec || alive.expired()) return;
      Log()->info("conductor did not confirm the close in time; stopping anyway");
      FinishStop();
    });
    Attempt& attempt = *attempt_;
    if (attempt.session_id != 0 && !attempt.goodbye_sent) {
      attempt.phase = Phase::kLeaving;
      SendGoodbye(attempt, "wamp.close.system_shutdown");
      leave_timer_.expires_after(options_.leave_timeout);
      leave_timer_.async_wait([this, id = attempt.id, alive = Alive()](const boost::system::error_code& ec) {
        if (ec || alive.expired() || !IsCurrent(id)) return;
        attempt_->transport->Close(websocketpp::close::status::going_away, "agent stopping");
      });
    } else {
      attempt.transport->Close(websocketpp::close::status::going_away, "agent stopping");
    }
  }

 private:
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

  void Connect() {
    auto attempt = std::make_unique<Attempt>();
    attempt->id = ++last_attempt_id_;
    const uint64_t id = attempt->id;
    Log()->info("connecting to {} (attempt {})", options_.url, backoff_.attempt() + 1);

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

  // Closes the current attempt's connection, remembering why for the log.
  void Fail(const std::string& reason, websocketpp::close::status::value code) {
    if (!attempt_) return;
    if (attempt_->failure.empty()) attempt_->failure = reason;
    attempt_->transport->Close(code, reason);
  }

  void OnOpen(uint64_t id) {
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

  void OnJoined(uint64_t id, ew::Result<uint64_t> joined) {
    if (!IsCurrent(id)) return;
    Attempt& attempt = *attempt_;
    if (!joined) {
      std::string why = attempt.abort_reason.empty() ? joined.error().message : attempt.abort_reason;
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
      Continue(attempt.session->provide(uri, MakeProcedure(uri, procedure.handler, attempt.replies_open), provide_options),
               id, [this, uri](uint64_t id, ew::Result<autobahn::wamp_registration> registered) {
                 OnRegistered(id, "register " + uri,
                              registered ? ew::Ok() : ew::Result<void>(tl::unexpected(registered.error())));
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

  // One REGISTER or SUBSCRIBE of the join answered; `what` is "register <uri>" or "subscribe <topic>".
  void OnRegistered(uint64_t id, const std::string& what, ew::Result<void> registered) {
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
    join_timer_.cancel();
    Log()->info("ready: board={} session={}: {} procedures registered", options_.board_id, attempt.session_id,
                 procedures_.size());
    for (auto& [topic, dynamic] : dynamic_) {
      dynamic.subscription.reset();
      SubscribeNow(topic);
    }
    for (SessionObserver* observer : observers_) observer->OnReady(options_.url, attempt.session_id);
  }

  autobahn::wamp_procedure MakeProcedure(const std::string& uri, const rpc::Handler& handler,
                                         const std::shared_ptr<bool>& replies_open) {
    return [io = &io_, uri, handler, open = std::weak_ptr<bool>(replies_open),
            max_message_bytes = options_.max_message_bytes](autobahn::wamp_invocation invocation) {
      rpc::Request call;
      call.procedure = uri;
      try {
        if (invocation->number_of_arguments() > 0) call.args = MsgpackToJson(invocation->arguments<msgpack::object>());
        if (invocation->number_of_kw_arguments() > 0)
          call.kwargs = MsgpackToJson(invocation->kw_arguments<msgpack::object>());
      } catch (const std::exception& e) {
        return SendReply(invocation, ew::InvalidArgument(std::string("arguments are not representable as JSON: ") + e.what()),
                         max_message_bytes);
      }
      try {
        call.caller = invocation->detail_or<uint64_t>("caller", 0);
      } catch (const std::exception&) {
        call.caller = 0;  // no details map, or not an integer
      }
      Log()->debug("invocation of {}", uri);
      handler(call, [io, invocation, open, max_message_bytes](ew::Result<rpc::Reply> result) {
        boost::asio::post(*io, [invocation, open, max_message_bytes, result = std::move(result)] {
          if (open.expired()) return;  // that session has ended
          SendReply(invocation, result, max_message_bytes);
        });
      });
    };
  }

  // EVENTs run on the io thread (inside Autobahn's message handling) and only while the
  // attempt they were subscribed in is open.
  autobahn::wamp_event_handler MakeEventHandler(const rpc::Subscription& subscription,
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

  // Messages the runner handles itself instead of Autobahn (see the file comment).
  bool Intercept(uint64_t id, const autobahn::wamp_message& message) {
    if (!IsCurrent(id)) return false;
    Attempt& attempt = *attempt_;
    int type = message.field(0).as<int>();
    try {
      switch (type) {
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
        default:
          return false;
      }
    } catch (const std::exception& e) {
      Fail(fmt::format("malformed WAMP message {} from the conductor: {}", type, e.what()),
           websocketpp::close::status::protocol_error);
      return true;
    }
  }

  // Value of `key` in a msgpack map, or null.
  static const msgpack::object* Find(const msgpack::object& map, const char* key) {
    if (map.type != msgpack::type::MAP) return nullptr;
    for (uint32_t i = 0; i < map.via.map.size; ++i) {
      const auto& kv = map.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR && kv.key.as<std::string>() == key) return &kv.val;
    }
    return nullptr;
  }

  // [CHALLENGE, AuthMethod, Extra{challenge, salt?, iterations?, keylen?}] → AUTHENTICATE.
  void OnChallenge(Attempt& attempt, const autobahn::wamp_message& message) {
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

  // "<uri>: <details.message>" from ABORT/GOODBYE ([type, details, reason]).
  static std::string DescribeReason(const autobahn::wamp_message& message, size_t reason_index, size_t details_index) {
    std::string text = message.size() > reason_index && message.field(reason_index).type == msgpack::type::STR
                           ? message.field(reason_index).as<std::string>()
                           : "no reason";
    if (message.size() > details_index) {
      const auto* detail = Find(message.field(details_index), "message");
      if (detail && detail->type == msgpack::type::STR) text += ": " + detail->as<std::string>();
    }
    return text;
  }

  void OnGoodbye(Attempt& attempt, const std::string& reason) {
    if (attempt.phase == Phase::kLeaving) {
      // The router confirmed our GOODBYE.
      leave_timer_.cancel();
      attempt.transport->Close(websocketpp::close::status::normal, "agent stopping");
      return;
    }
    // The conductor ends the session (shutdown, board deleted, kicked): reply, then close.
    if (attempt.failure.empty()) attempt.failure = "the conductor ended the session: " + reason;
    SendGoodbye(attempt, "wamp.close.goodbye_and_out");
    attempt.transport->Close(websocketpp::close::status::normal, attempt.failure);
  }

  // Sends GOODBYE through Autobahn (which also marks the session as left).
  void SendGoodbye(Attempt& attempt, const std::string& reason) {
    if (attempt.goodbye_sent) return;
    attempt.goodbye_sent = true;
    try {
      attempt.session->leave(reason);
    } catch (const std::exception& e) {
      Log()->debug("GOODBYE not sent: {}", e.what());
    }
  }

  // [INTERRUPT, INVOCATION.Request, Options]: the conductor gave up on a call (timeout or
  // cancel). Procedures cannot be cancelled yet; answer ERROR as WAMP asks unless the caller
  // said not to wait ("killnowait"). A late YIELD is then dropped by the router.
  void OnInterrupt(Attempt& attempt, const autobahn::wamp_message& message) {
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

  void OnClosed(uint64_t id, const std::string& reason) {
    if (!IsCurrent(id)) return;
    std::unique_ptr<Attempt> attempt = std::move(attempt_);
    join_timer_.cancel();
    leave_timer_.cancel();
    Teardown(*attempt);
    const std::string why = attempt->failure.empty() ? reason : attempt->failure;
    const bool was_ready = attempt->was_ready;
    const auto lasted = was_ready ? Clock::now() - attempt->ready_at : Clock::duration::zero();
    // We are inside the transport's callback: destroy the attempt from a later handler.
    boost::asio::post(io_, [doomed = std::shared_ptr<Attempt>(std::move(attempt))] {});

    if (stopping_) {
      Log()->info("disconnected from {}", options_.url);
      return FinishStop();
    }
    if (was_ready && lasted >= options_.stable_after) backoff_.Reset();
    auto delay = backoff_.Next();
    // A refused certificate needs the operator (wrong CA, pin, name, dates): warn, not info.
    const auto level = why.rfind("TLS handshake with ", 0) == 0 ? spdlog::level::warn : spdlog::level::info;
    Log()->log(level, "connection {}: {}, retrying in {}", was_ready ? "lost" : "failed", why, FormatDelay(delay));
    for (SessionObserver* observer : observers_) observer->OnDisconnected(why, delay);
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([this, alive = Alive()](const boost::system::error_code& ec) {
      if (ec || alive.expired() || stopping_) return;
      Connect();
    });
  }

  // Ends the session object's part in an attempt. Each Autobahn call is guarded: they throw
  // on states a dead connection can leave behind (promise already satisfied, no transport).
  void Teardown(Attempt& attempt) {
    attempt.replies_open.reset();
    if (attempt.session_id != 0 && !attempt.goodbye_sent) {
      // Cannot reach the router any more; this only clears the session id so stop() succeeds.
      attempt.goodbye_sent = true;
      try {
        attempt.session->leave();
      } catch (...) {
      }
    }
    try {
      attempt.session->stop();
    } catch (...) {
    }
    attempt.transport->Release();
  }

  void FinishStop() {
    if (!stop_done_) return;
    stop_timer_.cancel();
    leave_timer_.cancel();
    join_timer_.cancel();
    retry_timer_.cancel();
    if (attempt_) {
      // Deadline passed with the connection still up: drop it without waiting.
      attempt_->transport->Close(websocketpp::close::status::going_away, "agent stopping");
      Teardown(*attempt_);
      boost::asio::post(io_, [doomed = std::shared_ptr<Attempt>(std::move(attempt_))] {});
    }
    auto done = std::move(stop_done_);
    stop_done_ = nullptr;
    done();
  }

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
  Backoff backoff_;
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

SessionRunner::SessionRunner(boost::asio::io_context& io, SessionOptions options, rpc::ProcedureTable procedures,
                             SessionObserver* observer, Backoff::RandomSource random)
    : impl_(std::make_unique<Impl>(io, std::move(options), std::move(procedures), observer, std::move(random))) {}

SessionRunner::~SessionRunner() = default;

void SessionRunner::Start() { impl_->Start(); }

void SessionRunner::Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds timeout,
                         std::function<void(ew::Result<rpc::Reply>)> done) {
  impl_->Call(procedure, std::move(arguments), timeout, std::move(done));
}

void SessionRunner::Stop(std::function<void()> done) { impl_->Stop(std::move(done)); }

void SessionRunner::AddSubscription(rpc::Subscription subscription) { impl_->AddSubscription(std::move(subscription)); }

void SessionRunner::AddObserver(SessionObserver* observer) { impl_->AddObserver(observer); }

bool SessionRunner::Publish(const std::string& topic, const rpc::Reply& payload) {
  return impl_->Publish(topic, payload);
}

void SessionRunner::Subscribe(const std::string& topic, std::function<void(const rpc::Request&)> handler) {
  impl_->Subscribe(topic, std::move(handler));
}

void SessionRunner::Unsubscribe(const std::string& topic) { impl_->Unsubscribe(topic); }

}  // namespace ew::agent::session
