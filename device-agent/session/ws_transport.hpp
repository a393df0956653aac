// A WAMP transport (wamp.2.msgpack over WebSocket) for Autobahn|Cpp sessions, on websocketpp.
// Internal to ew_agent_session: includes Autobahn and websocketpp.
//
// Why not autobahn::wamp_websocketpp_websocket_transport (17.5.1): its close and fail
// handlers only set a flag, so a dead connection is never reported to anyone; it binds raw
// `this` into handlers it installs on the shared websocketpp endpoint; and an exception thrown
// by the session while handling a message escapes into io_context::run(). This class reports
// every end of the connection exactly once, binds weak pointers on the connection itself,
// catches handler exceptions, and watches liveness with WebSocket pings.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>

#include <autobahn/boost_config.hpp>
#include <autobahn/wamp_message.hpp>
#include <autobahn/wamp_transport.hpp>
#include <autobahn/wamp_transport_handler.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

namespace ew::agent::session {

using WsClient = websocketpp::client<websocketpp::config::asio_client>;

struct WsTransportOptions {
  std::chrono::milliseconds ping_interval{10'000};  // send a ping after this much silence
  std::chrono::milliseconds idle_timeout{30'000};   // no frame at all for this long = dead peer
  std::chrono::milliseconds close_timeout{1'000};   // wait this long for the peer's close frame
};

// All methods and callbacks run on the io thread of the io_context `client` was bound to.
class WsTransport : public autobahn::wamp_transport, public std::enable_shared_from_this<WsTransport> {
 public:
  struct Events {
    std::function<void()> on_open;
    // Exactly once per connect(): the connection failed, was closed by either side, or died.
    std::function<void(const std::string& reason)> on_closed;
    // Sees each decoded message before the session; returns true when it consumed it.
    std::function<bool(const autobahn::wamp_message& message)> intercept;
    // The session threw while handling a message of type `type`; the connection stays up
    // until the callee decides.
    std::function<void(int type, const std::string& what)> on_handler_error;
  };

  // `error_log` is the stream `client`'s error log writes to (websocketpp keeps the system
  // error of a failed connect only there); may be null.
  WsTransport(WsClient& client, boost::asio::io_context& io, std::string url, WsTransportOptions options,
              Events events, std::ostringstream* error_log = nullptr);
  ~WsTransport() override;

  // wamp_transport.
  boost::future<void> connect() override;
  boost::future<void> disconnect() override;
  bool is_connected() const override;
  void send_message(autobahn::wamp_message&& message) override;
  void set_pause_handler(pause_handler&& handler) override {}
  void set_resume_handler(resume_handler&& handler) override {}
  void pause() override {}
  void resume() override {}
  void attach(const std::shared_ptr<autobahn::wamp_transport_handler>& handler) override;
  void detach() override;
  bool has_handler() const override { return handler_ != nullptr; }

  // Starts closing: a close frame when open (on_closed follows the handshake or
  // close_timeout), an abort when still connecting. No-op once closing.
  void Close(websocketpp::close::status::value code, const std::string& reason);
  // Forgets the session without calling its on_detach(), which asserts the session was
  // stopped; breaks the session <-> transport reference cycle at teardown.
  void Release() { handler_.reset(); }

 private:
  void OnOpen();
  void OnFail();
  void OnClose();
  void OnMessage(WsClient::message_ptr message);
  void Finish(const std::string& reason);
  void ScheduleLivenessCheck();
  void CheckLiveness();
  // The system error websocketpp last logged ("Connection refused"), or "".
  std::string LastLoggedError();

  WsClient& client_;
  boost::asio::io_context& io_;
  std::string url_;
  WsTransportOptions options_;
  Events events_;
  std::ostringstream* error_log_;
  WsClient::connection_ptr connection_;
  boost::promise<void> connect_promise_;
  boost::asio::steady_timer liveness_timer_;
  std::chrono::steady_clock::time_point last_received_;
  std::shared_ptr<autobahn::wamp_transport_handler> handler_;
  std::string close_reason_;  // ours, when we started the close
  bool connect_called_ = false;
  bool open_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace ew::agent::session
