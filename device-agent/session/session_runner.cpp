// The board session's lifecycle: start, stop, the reconnect loop, and calls, publications
// and subscriptions over whichever session is current. The connection itself (WebSocket,
// CHALLENGE, join, registrations) is session_connect.cpp; the shared state and the Autobahn
// notes are in session_runner_impl.hpp.
#include "device-agent/session/session_runner.hpp"

#include <cctype>

#include <fmt/format.h>

#include <autobahn/wamp_call_options.hpp>
#include <autobahn/wamp_call_result.hpp>

#include "common/log/log.hpp"
#include "device-agent/session/session_runner_impl.hpp"
#include "device-agent/session/wamp_payload.hpp"

namespace ew::agent::session {

namespace {

const ew::log::Logger Log{"agent"};

ReconnectPolicyConfig PolicyConfig(const SessionOptions& options) {
  ReconnectPolicyConfig config;
  config.probe_interval = options.probe_interval;
  config.retry_initial = options.reconnect_initial;
  config.retry_max = options.reconnect_max;
  config.refused_initial = options.refused_initial;
  config.refused_max = options.refused_max;
  config.stable_after = options.stable_after;
  return config;
}

}  // namespace

std::string FormatDelay(std::chrono::milliseconds delay) {
  if (delay < std::chrono::seconds(1)) return fmt::format("{}ms", delay.count());
  return fmt::format("{:.1f}s", static_cast<double>(delay.count()) / 1000.0);
}

SessionRunner::Impl::Impl(boost::asio::io_context& io, SessionOptions options, rpc::ProcedureTable procedures, SessionObserver* observer,
     Backoff::RandomSource random)
    : io_(io),
      options_(std::move(options)),
      procedures_(std::move(procedures)),
      observers_(observer ? std::vector<SessionObserver*>{observer} : std::vector<SessionObserver*>{}),
      policy_(PolicyConfig(options_), clock_, std::move(random)),
      probe_(io),
      key_(options_.secret),
      retry_timer_(io),
      join_timer_(io),
      leave_timer_(io),
      stop_timer_(io) {
  if (auto url = url::ParseUrl(options_.url); url) probe_target_ = *url;
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

SessionRunner::Impl::~Impl() {
  // Cancels nothing the io_context would still run (it has stopped); just breaks the
  // session <-> transport cycle of an attempt still in flight.
  if (attempt_) Teardown(*attempt_);
}

bool SessionRunner::Impl::Publish(const std::string& topic, const rpc::Reply& payload) {
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

void SessionRunner::Impl::Subscribe(const std::string& topic, std::function<void(const rpc::Request&)> handler) {
  dynamic_[topic] = Dynamic{std::move(handler), std::nullopt, 0};
  if (attempt_ && attempt_->phase == Phase::kReady) SubscribeNow(topic);
}

void SessionRunner::Impl::Unsubscribe(const std::string& topic) {
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


void SessionRunner::Impl::SubscribeNow(const std::string& topic) {
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

void SessionRunner::Impl::Start() {
  if (started_) return;
  started_ = true;
  Connect();
}

void SessionRunner::Impl::Call(const std::string& procedure, rpc::Reply arguments, std::chrono::milliseconds timeout,
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
  // Calls work once the session is joined: while the agent is still registering, the conductor
  // already invokes what is registered (fn.deploy right after it registers), and those handlers
  // call back (fn.fetch).
  if (!attempt_ || (attempt_->phase != Phase::kReady && attempt_->phase != Phase::kRegistering)) {
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

void SessionRunner::Impl::Stop(std::function<void()> done) {
  if (stopping_) return;
  stopping_ = true;
  stop_done_ = std::move(done);
  retry_timer_.cancel();
  probe_.Cancel();
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

void SessionRunner::Impl::OnClosed(uint64_t id, const std::string& reason) {
  if (!IsCurrent(id)) return;
  std::unique_ptr<Attempt> attempt = std::move(attempt_);
  join_timer_.cancel();
  leave_timer_.cancel();
  Teardown(*attempt);
  const std::string why = attempt->failure.empty() ? reason : attempt->failure;
  const bool was_ready = attempt->was_ready;
  const bool tls_refused = why.rfind("TLS handshake with ", 0) == 0;
  // Not understood where it happened: the transport failed or dropped, so the conductor (or
  // the path to it) is away; a failed TLS handshake is not that (the port answered).
  const DisconnectKind kind =
      attempt->kind.value_or(tls_refused ? DisconnectKind::kFailed : DisconnectKind::kUnreachable);
  // We are inside the transport's callback: destroy the attempt from a later handler.
  boost::asio::post(io_, [doomed = std::shared_ptr<Attempt>(std::move(attempt))] {});

  if (stopping_) {
    Log()->info("disconnected from {}", options_.url);
    return FinishStop();
  }
  const ReconnectStep step = policy_.OnDisconnected(kind, why);
  const char* what = was_ready ? "lost" : "failed";
  switch (kind) {
    case DisconnectKind::kRefused:
      // Only the operator can fix this (board deleted, secret replaced, wrong credential file).
      Log()->warn("the conductor refused board={}: {}; next attempt in {} (re-enrol the board if it was deleted "
                  "or its secret changed)",
                  options_.board_id, why, FormatDelay(step.delay));
      break;
    case DisconnectKind::kUnreachable:
      // Logged once per outage; each failed probe is a debug line.
      Log()->info("connection {}: {}, retrying in {} (probing the conductor every ~{} until it answers)", what, why,
                  FormatDelay(step.delay), FormatDelay(options_.probe_interval));
      break;
    case DisconnectKind::kFailed:
      // A refused certificate needs the operator (wrong CA, pin, name, dates): warn, not info.
      Log()->log(tls_refused ? spdlog::level::warn : spdlog::level::info, "connection {}: {}, retrying in {}", what,
                 why, FormatDelay(step.delay));
      break;
  }
  for (SessionObserver* observer : observers_) {
    observer->OnDisconnected(why, step.delay);
    observer->OnReconnectState(policy_.state(), why, step.delay);
  }
  Schedule(step);
}

void SessionRunner::Impl::Schedule(ReconnectStep step) {
  retry_timer_.expires_after(step.delay);
  retry_timer_.async_wait([this, alive = Alive(), action = step.action](const boost::system::error_code& ec) {
    if (ec || alive.expired() || stopping_) return;
    if (action == ReconnectStep::Action::kProbe) return Probe();
    Connect();
  });
}

void SessionRunner::Impl::Probe() {
  if (!probe_target_) return Connect();
  probe_.Start(probe_target_->host, probe_target_->port, options_.probe_timeout,
               [this, alive = Alive()](ew::Result<void> reachable) {
                 if (alive.expired() || stopping_) return;
                 if (reachable) {
                   Log()->info("conductor {} answers again", probe_target_->Authority());
                   return Connect();
                 }
                 Log()->debug("conductor probe: {}", reachable.error().message);
                 Schedule({ReconnectStep::Action::kProbe, policy_.OnProbeFailed()});
               });
}

void SessionRunner::Impl::Teardown(Attempt& attempt) {
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

void SessionRunner::Impl::FinishStop() {
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

ReconnectState SessionRunner::state() const { return impl_->policy().state(); }

const std::string& SessionRunner::last_disconnect_reason() const { return impl_->policy().last_reason(); }

uint64_t SessionRunner::connections() const { return impl_->policy().connections(); }

}  // namespace ew::agent::session
