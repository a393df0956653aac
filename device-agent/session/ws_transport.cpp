// See ws_transport.hpp for why the agent has its own transport.
#include "device-agent/session/ws_transport.hpp"

#include <algorithm>
#include <cassert>

#include <msgpack.hpp>

#include "common/log/log.hpp"

namespace ew::agent::session {

namespace {

constexpr const char* kSubprotocol = "wamp.2.msgpack";

const ew::log::Logger Log{"agent"};

std::string CloseCodeText(websocketpp::close::status::value code) {
  return std::to_string(code) + " " + websocketpp::close::status::get_string(code);
}

}  // namespace

template <typename Client>
BasicWsTransport<Client>::BasicWsTransport(Client& client, boost::asio::io_context& io, std::string url, WsTransportOptions options,
                         Events events, std::ostringstream* error_log, tls::ConductorTrust trust)
    : client_(client),
      io_(io),
      url_(std::move(url)),
      options_(options),
      events_(std::move(events)),
      error_log_(error_log),
      trust_(std::move(trust)),
      liveness_timer_(io),
      ping_after_(options_.ping_interval),
      dead_after_(options_.idle_timeout) {}

template <typename Client>
BasicWsTransport<Client>::~BasicWsTransport() = default;

template <typename Client>
boost::future<void> BasicWsTransport<Client>::connect() {
  if (connect_called_) {
    boost::promise<void> refused;
    refused.set_exception(std::logic_error("WsTransport::connect called twice"));
    return refused.get_future();
  }
  connect_called_ = true;
  auto future = connect_promise_.get_future();
  if (error_log_) error_log_->str("");

  PrepareTls();
  websocketpp::lib::error_code ec;
  connection_ = client_.get_connection(url_, ec);
  if (ec) {
    // Report asynchronously, like every other outcome, so callers never re-enter themselves.
    std::string reason = !tls_setup_error_.empty() ? "TLS setup for " + url_ + " failed: " + tls_setup_error_
                                                   : "invalid WAMP URL " + url_ + ": " + ec.message();
    connect_promise_.set_exception(std::runtime_error(reason));
    boost::asio::post(io_, [weak = Weak(), reason] {
      if (auto self = weak.lock()) self->Finish(reason);
    });
    return future;
  }
  connection_->add_subprotocol(kSubprotocol);
  connection_->set_close_handshake_timeout(static_cast<long>(options_.close_timeout.count()));

  // Handlers on the connection, not the endpoint: each connection talks to its own transport,
  // and a transport that is gone is simply not called.
  std::weak_ptr<BasicWsTransport> weak = Weak();
  connection_->set_open_handler([weak](websocketpp::connection_hdl) {
    if (auto self = weak.lock()) self->OnOpen();
  });
  connection_->set_fail_handler([weak](websocketpp::connection_hdl) {
    if (auto self = weak.lock()) self->OnFail();
  });
  connection_->set_close_handler([weak](websocketpp::connection_hdl) {
    if (auto self = weak.lock()) self->OnClose();
  });
  connection_->set_message_handler([weak](websocketpp::connection_hdl, MessagePtr message) {
    if (auto self = weak.lock()) self->OnMessage(std::move(message));
  });
  // websocketpp answers a ping with a pong when this returns true; any frame proves liveness.
  connection_->set_ping_handler([weak](websocketpp::connection_hdl, std::string payload) {
    auto self = weak.lock();
    if (!self) return true;
    self->last_received_ = std::chrono::steady_clock::now();
    // The conductor's pings carry its current heartbeat terms (docs/ARCHITECTURE.md, WAMP, "Heartbeat").
    if (auto terms = wamp::HeartbeatFromPingPayload(payload)) self->AdoptHeartbeat(*terms);
    return true;
  });
  connection_->set_pong_handler([weak](websocketpp::connection_hdl, std::string) {
    if (auto self = weak.lock()) self->last_received_ = std::chrono::steady_clock::now();
  });
  // Once the TCP connection is up: no Nagle delay. A YIELD is one small frame that must leave
  // now, not wait for the ACK of the previous one (the conductor sets the same).
  connection_->set_tcp_post_init_handler([weak](websocketpp::connection_hdl) {
    auto self = weak.lock();
    if (!self) return;
    boost::system::error_code ec;
    self->connection_->get_socket().lowest_layer().set_option(boost::asio::ip::tcp::no_delay(true), ec);
    if (ec) Log()->warn("cannot set TCP_NODELAY on {}: {}", self->url_, ec.message());
  });
  client_.connect(connection_);
  return future;
}

template <>
void BasicWsTransport<WsClient>::PrepareTls() {}

// One TLS context per connection: it carries the host name to match and this connection's
// verifier, whose reason OnFail reports. websocketpp asks the endpoint's handler for it inside
// get_connection(), so the handler is (re)set on the endpoint for this transport just before;
// the runner has one connection attempt at a time.
template <>
void BasicWsTransport<WssClient>::PrepareTls() {
  std::string host;
  try {
    host = websocketpp::uri(url_).get_host();
  } catch (const std::exception&) {
    // An unparsable URL fails in get_connection() with its own message.
  }
  verifier_ = std::make_shared<tls::PeerVerifier>(trust_, host);
  std::weak_ptr<BasicWsTransport> weak = Weak();
  client_.set_tls_init_handler([weak](websocketpp::connection_hdl) -> std::shared_ptr<boost::asio::ssl::context> {
    auto self = weak.lock();
    if (!self) return nullptr;
    auto context = tls::MakeClientContext(self->trust_, self->verifier_->host(), self->verifier_);
    if (!context) {
      self->tls_setup_error_ = context.error().message;
      return nullptr;  // get_connection() fails; connect() reports tls_setup_error_
    }
    return *context;
  });
}

template <typename Client>
boost::future<void> BasicWsTransport<Client>::disconnect() {
  Close(websocketpp::close::status::normal, "disconnect");
  boost::promise<void> done;
  done.set_value();
  return done.get_future();
}

template <typename Client>
bool BasicWsTransport<Client>::is_connected() const { return open_ && !closing_ && !finished_; }

template <typename Client>
void BasicWsTransport<Client>::send_message(autobahn::wamp_message&& message) {
  if (!is_connected()) throw std::runtime_error("transport is not connected");
  // websocketpp's connection takes no locks (SingleThreadClientConfig): the io thread only.
  assert(io_.get_executor().running_in_this_thread());
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack(message.fields());
  websocketpp::lib::error_code ec = connection_->send(buffer.data(), buffer.size(), websocketpp::frame::opcode::binary);
  // A failed send means the connection is going down; its close handler reports why.
  if (ec) Log()->debug("send failed on {}: {}", url_, ec.message());
}

template <typename Client>
bool BasicWsTransport<Client>::SendEncoded(std::string_view msgpack_message) {
  if (!is_connected()) return false;
  assert(io_.get_executor().running_in_this_thread());  // as send_message
  websocketpp::lib::error_code ec =
      connection_->send(msgpack_message.data(), msgpack_message.size(), websocketpp::frame::opcode::binary);
  if (ec) Log()->debug("send failed on {}: {}", url_, ec.message());
  return !ec;
}

template <typename Client>
void BasicWsTransport<Client>::attach(const std::shared_ptr<autobahn::wamp_transport_handler>& handler) {
  if (handler_) throw std::logic_error("a session is already attached to this transport");
  handler_ = handler;
  handler_->on_attach(shared_from_this());
}

template <typename Client>
void BasicWsTransport<Client>::detach() {
  if (!handler_) throw std::logic_error("no session attached to this transport");
  auto handler = std::move(handler_);
  handler->on_detach(true, "wamp.close.normal");
}

template <typename Client>
void BasicWsTransport<Client>::Close(websocketpp::close::status::value code, const std::string& reason) {
  if (closing_ || finished_ || !connection_) return;
  closing_ = true;
  close_reason_ = reason;
  liveness_timer_.cancel();
  websocketpp::lib::error_code ec;
  if (open_) {
    connection_->close(code, reason, ec);
    if (!ec) return;
  }
  // Still connecting (or the close frame could not be queued): abort; the fail or close
  // handler follows from websocketpp.
  connection_->terminate(websocketpp::lib::error_code());
}

template <typename Client>
void BasicWsTransport<Client>::OnOpen() {
  if (finished_) return;
  open_ = true;
  last_received_ = std::chrono::steady_clock::now();
  // websocketpp fills get_subprotocol() on the server side only; a client reads the header.
  if (connection_->get_response_header("Sec-WebSocket-Protocol") != kSubprotocol) {
    connect_promise_.set_exception(std::runtime_error("no wamp.2.msgpack"));
    Close(websocketpp::close::status::protocol_error,
          "the router did not accept subprotocol " + std::string(kSubprotocol));
    return;
  }
  connect_promise_.set_value();
  ScheduleLivenessCheck();
  if (events_.on_open) events_.on_open();
}

template <typename Client>
void BasicWsTransport<Client>::OnFail() {
  std::string reason;
  if (auto status = connection_->get_response_code(); status != websocketpp::http::status_code::uninitialized) {
    reason = "WebSocket handshake refused by " + url_ + ": HTTP " + std::to_string(status) + " " +
             connection_->get_response_msg();
  } else if (auto logged = LastLoggedError(); !logged.empty()) {
    reason = "cannot connect to " + url_ + ": " + logged;
  } else if (auto transport_ec = connection_->get_transport_ec()) {
    reason = "cannot connect to " + url_ + ": " + transport_ec.message();
  } else {
    reason = "cannot connect to " + url_ + ": " + connection_->get_ec().message();
  }
  if (verifier_ && !verifier_->failure().empty())
    reason = "TLS handshake with " + url_ + " failed: " + verifier_->failure();
  if (!close_reason_.empty()) reason = close_reason_;
  if (!open_) connect_promise_.set_exception(std::runtime_error(reason));
  Finish(reason);
}

template <typename Client>
void BasicWsTransport<Client>::OnClose() {
  std::string reason;
  auto remote_code = connection_->get_remote_close_code();
  if (!close_reason_.empty()) {
    reason = close_reason_;
  } else if (remote_code != websocketpp::close::status::no_status &&
             remote_code != websocketpp::close::status::abnormal_close) {
    reason = "closed by the conductor (" + CloseCodeText(remote_code);
    if (!connection_->get_remote_close_reason().empty()) reason += ": " + connection_->get_remote_close_reason();
    reason += ")";
  } else if (auto logged = LastLoggedError(); !logged.empty()) {
    reason = "connection dropped: " + logged;
  } else if (auto transport_ec = connection_->get_transport_ec()) {
    reason = "connection dropped: " + transport_ec.message();
  } else if (auto ec = connection_->get_ec()) {
    reason = "connection dropped: " + ec.message();
  } else {
    reason = "connection dropped";
  }
  Finish(reason);
}

// websocketpp logs "... asio async_connect error: system:111 (Connection refused)" but
// reports only "Underlying Transport Error" to the fail handler (the asio error code is not
// kept for plain sockets), so the readable part is taken from the last logged error.
template <typename Client>
std::string BasicWsTransport<Client>::LastLoggedError() {
  if (!error_log_) return "";
  std::string text = error_log_->str();
  error_log_->str("");
  size_t at = text.rfind(" error: ");
  if (at == std::string::npos) return "";
  size_t open = text.find('(', at);
  size_t close = text.find(')', open == std::string::npos ? at : open);
  if (open == std::string::npos || close == std::string::npos) return "";
  return text.substr(open + 1, close - open - 1);
}

template <typename Client>
void BasicWsTransport<Client>::Finish(const std::string& reason) {
  if (finished_) return;
  finished_ = true;
  liveness_timer_.cancel();
  if (events_.on_closed) events_.on_closed(reason);
}

template <typename Client>
void BasicWsTransport<Client>::OnMessage(MessagePtr message) {
  if (finished_ || closing_) return;
  last_received_ = std::chrono::steady_clock::now();
  if (message->get_opcode() != websocketpp::frame::opcode::binary) {
    Close(websocketpp::close::status::unsupported_data, "wamp.2.msgpack takes binary frames only");
    return;
  }
  const std::string& payload = message->get_payload();
  autobahn::wamp_message::message_fields fields;
  // The zone's chunks fit a small message (msgpack's default is 8 KiB, a malloc that
  // consolidates the heap on every message); a large one gets chunks of at most 64 KiB.
  msgpack::zone zone(std::clamp<size_t>(payload.size() * 2, 256, 64 * 1024));
  try {
    // What msgpack::unpack(zone, data, size) does, on the kept context: init, this zone, parse;
    // bytes after the message are ignored as it ignores them.
    unpack_context_.init();
    unpack_context_.user().set_zone(zone);
    unpack_context_.user().set_referenced(false);
    size_t offset = 0;
    const int parsed = payload.empty() ? 0 : unpack_context_.execute(payload.data(), payload.size(), offset);
    if (parsed < 0) throw msgpack::parse_error("parse error");
    if (parsed == 0) throw msgpack::insufficient_bytes("insufficient bytes");
    msgpack::object decoded = unpack_context_.data();
    decoded.convert(fields);
    if (fields.empty() || fields[0].type != msgpack::type::POSITIVE_INTEGER) throw std::runtime_error("no message type");
  } catch (const std::exception& e) {
    Log()->warn("undecodable WAMP message from {}: {}", url_, e.what());
    Close(websocketpp::close::status::protocol_error, "undecodable WAMP message");
    return;
  }
  int type = fields[0].as<int>();
  autobahn::wamp_message wamp(std::move(fields), std::move(zone));
  if (events_.intercept && events_.intercept(wamp)) return;
  // Keep the session alive for the call even if the runner drops it meanwhile.
  auto handler = handler_;
  if (!handler || finished_) return;
  try {
    handler->on_message(std::move(wamp));
  } catch (const std::exception& e) {
    if (events_.on_handler_error) events_.on_handler_error(type, e.what());
  } catch (...) {
    if (events_.on_handler_error) events_.on_handler_error(type, "unknown exception");
  }
}

template <typename Client>
void BasicWsTransport<Client>::AdoptHeartbeat(const wamp::HeartbeatTerms& terms) {
  if (terms_ == terms) return;
  terms_ = terms;
  // At most a minute (two to give up, checked every half minute: noticed within 2½ minutes): a
  // conductor stretched further is still checked that often, at a ping a minute per board, so
  // that a board that talks into a dead path (NAT, cable) notices whatever the conductor's terms.
  const auto before = ping_after_;
  ping_after_ = std::max(options_.ping_interval, std::min(terms.timeout, kMaxPingAfter));
  dead_after_ = std::max(options_.idle_timeout, 2 * ping_after_);
  Log()->debug("conductor heartbeat: it pings after {} ms of our silence, drops us after {} ms; we ping it after "
               "{} ms of its silence, give up after {} ms",
               terms.interval.count(), terms.timeout.count(), ping_after_.count(), dead_after_.count());
  if (ping_after_ < before && is_connected()) ScheduleLivenessCheck();  // shorter: from now, not the old period
}

template <typename Client>
void BasicWsTransport<Client>::ScheduleLivenessCheck() {
  // Twice per ping_after_: a dead conductor is given up at most half of it late.
  liveness_timer_.expires_after(std::max(ping_after_ / 2, std::chrono::milliseconds(1)));
  liveness_timer_.async_wait([weak = Weak()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->CheckLiveness();
  });
}

template <typename Client>
void BasicWsTransport<Client>::CheckLiveness() {
  if (!is_connected()) return;
  auto silent = std::chrono::steady_clock::now() - last_received_;
  if (silent >= dead_after_) {
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(silent).count();
    Close(websocketpp::close::status::going_away,
          "no frame from the conductor for " + std::to_string(seconds) + "s");
    return;
  }
  if (silent >= ping_after_) {
    websocketpp::lib::error_code ec;
    connection_->ping("", ec);
  }
  ScheduleLivenessCheck();
}

template class BasicWsTransport<WsClient>;
template class BasicWsTransport<WssClient>;

}  // namespace ew::agent::session
