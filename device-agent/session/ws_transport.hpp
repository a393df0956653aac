// A WAMP transport (wamp.2.msgpack over WebSocket, ws:// or wss://) for Autobahn|Cpp sessions,
// on websocketpp. Internal to ew_agent_session: includes Autobahn and websocketpp.
//
// Why not autobahn::wamp_websocketpp_websocket_transport (17.5.1): its close and fail
// handlers only set a flag, so a dead connection is never reported to anyone; it binds raw
// `this` into handlers it installs on the shared websocketpp endpoint; and an exception thrown
// by the session while handling a message escapes into io_context::run(). This class reports
// every end of the connection exactly once, binds weak pointers on the connection itself,
// catches handler exceptions, and watches liveness with WebSocket pings.
#pragma once

#include <cassert>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include <autobahn/boost_config.hpp>
#include <autobahn/wamp_message.hpp>
#include <autobahn/wamp_transport.hpp>
#include <autobahn/wamp_transport_handler.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/steady_timer.hpp>
#include <websocketpp/client.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_client.hpp>

#include "common/wamp/heartbeat.hpp"
#include "device-agent/session/mask_key_rng.hpp"
#include "device-agent/session/recycling_message_manager.hpp"
#include "device-agent/tls/conductor_trust.hpp"
#include "device-agent/tls/peer_verifier.hpp"

namespace ew::agent::session {

// websocketpp's asio transport connection, with two changes on its per-frame path.
//
// What is sent on the io thread (a reply given while its INVOCATION is being handled) is written
// when the read that delivered it has been handled, before the next read starts, instead of by a
// posted handler. websocketpp posts every write (transport dispatch), which put the io_context's
// poll for events and the connection's next read, which finds nothing, before each reply's
// sendmsg. Deferred to the next read rather than run at once, so that the replies to a burst of
// INVOCATIONs read together still leave in one write. A posted handler (the backstop) runs what
// is deferred should no read follow (a send from a timer, a closing connection).
//
// Reads and writes keep websocketpp's handler in the connection while the socket operation is
// pending, and give the socket a Completion holding the connection alone. websocketpp bound its
// std::function handler into a new std::bind each time and copied it again into its completion
// (two heap copies per read and per write, a handler's target being too big for std::function's
// inline storage); its completions (handle_async_read/write: error translation, logging) are
// still the ones called.
//
// Only the io thread may use the connection: with SingleThreadClientConfig websocketpp takes no
// locks (BasicWsTransport asserts it on its sends).
template <typename TransportConfig>
class InlineWriteConnection : public websocketpp::transport::asio::connection<TransportConfig> {
  using Base = websocketpp::transport::asio::connection<TransportConfig>;

 public:
  using Base::Base;

 protected:
  using Handler = websocketpp::transport::dispatch_handler;
  // What one handler's run deferred: mostly one write, so the first is kept inline.
  struct Batch {
    Handler first;
    std::vector<Handler> more;
  };

  // All shadow Base's: websocketpp::connection calls them as transport_con_type::dispatch,
  // transport_con_type::async_read_at_least and transport_con_type::async_write.
  websocketpp::lib::error_code dispatch(Handler handler) {
    if (std::this_thread::get_id() != reader_) return Base::dispatch(std::move(handler));
    if (auto batch = batch_.lock()) {
      batch->more.push_back(std::move(handler));
      return {};
    }
    // The batch belongs to its backstop alone (the handlers in it hold the connection): if the
    // io_context goes without running it, the batch goes with it and nothing is left in a cycle.
    auto batch = std::make_shared<Batch>();
    batch->first = std::move(handler);
    batch_ = batch;
    boost::asio::post(this->get_socket().get_executor(), [self = Self(), batch = std::move(batch)] {
      if (self->batch_.lock() == batch) self->batch_.reset();
      Run(*batch);
    });
    return {};
  }
  void async_read_at_least(size_t num_bytes, char* buf, size_t len, websocketpp::transport::read_handler handler) {
    reader_ = std::this_thread::get_id();  // the io thread: reads start there only
    if (auto batch = batch_.lock()) {
      batch_.reset();
      Run(*batch);  // its backstop finds it empty
    }
    assert(!read_handler_ && "one read at a time");
    read_handler_ = std::move(handler);
    boost::asio::async_read(this->get_socket(), boost::asio::buffer(buf, len), boost::asio::transfer_at_least(num_bytes),
                            Completion<&InlineWriteConnection::read_handler_>{Self()});
  }
  using Base::async_write;  // one buffer (the handshake): Base's
  void async_write(const std::vector<websocketpp::transport::buffer>& bufs,
                   websocketpp::transport::write_handler handler) {
    assert(!write_handler_ && "one write at a time");
    write_buffers_.clear();
    for (const auto& b : bufs) write_buffers_.emplace_back(b.buf, b.len);
    write_handler_ = std::move(handler);
    boost::asio::async_write(this->get_socket(), write_buffers_,
                             Completion<&InlineWriteConnection::write_handler_>{Self()});
  }

 private:
  static_assert(!TransportConfig::enable_multithreading, "reads and writes here bypass websocketpp's strand");

  // What Asio calls when a read or write completes: websocketpp's completion with the handler
  // kept in `Slot`. Should the operation be destroyed without completing (its io_context
  // destroyed first), the handler goes with it: websocketpp's handshake reads bind the
  // connection's own shared_ptr, which would otherwise keep it alive in a cycle.
  template <auto Slot>
  struct Completion {
    std::shared_ptr<InlineWriteConnection> self;
    Completion(std::shared_ptr<InlineWriteConnection> s) : self(std::move(s)) {}
    Completion(Completion&&) noexcept = default;
    Completion& operator=(Completion&&) = delete;
    ~Completion() {
      if (self) ((*self).*Slot) = nullptr;
    }
    void operator()(const boost::system::error_code& ec, size_t bytes) {
      auto connection = std::move(self);
      auto handler = std::move((*connection).*Slot);
      (*connection).*Slot = nullptr;
      if constexpr (std::is_same_v<decltype(Slot), decltype(&InlineWriteConnection::read_handler_)>) {
        connection->Base::handle_async_read(std::move(handler), ec, bytes);
      } else {
        connection->write_buffers_.clear();
        connection->Base::handle_async_write(std::move(handler), ec, bytes);
      }
    }
  };

  std::shared_ptr<InlineWriteConnection> Self() {
    return websocketpp::lib::static_pointer_cast<InlineWriteConnection>(this->get_shared());
  }
  static void Run(Batch& batch) {
    Handler first = std::move(batch.first);
    std::vector<Handler> more;
    more.swap(batch.more);
    if (first) first();
    for (auto& handler : more) handler();
  }

  std::thread::id reader_;        // the thread that reads: the io thread (none before the first read)
  std::weak_ptr<Batch> batch_;    // what the current handler deferred (io thread only)
  websocketpp::transport::read_handler read_handler_;    // of the pending read
  websocketpp::transport::write_handler write_handler_;  // of the pending write
  std::vector<boost::asio::const_buffer> write_buffers_;  // of the pending write
};

// The asio endpoint whose connections are InlineWriteConnections.
template <typename TransportConfig>
class InlineWriteEndpoint : public websocketpp::transport::asio::endpoint<TransportConfig> {
 public:
  using transport_con_type = InlineWriteConnection<TransportConfig>;
};

// websocketpp's client configs, for a connection that only the agent's one io thread touches
// (SessionRunner's contract): no strand around every handler and no locks
// (concurrency::none); frame masking keys from MaskKeyRng instead of one std::random_device
// draw (RDSEED) per frame; replies written at once (InlineWriteConnection); message buffers
// reused (RecyclingMessageManager).
template <typename Base>
struct SingleThreadClientConfig : Base {
  using type = SingleThreadClientConfig;
  using message_type = websocketpp::message_buffer::message<RecyclingMessageManager>;
  using con_msg_manager_type = RecyclingMessageManager<message_type>;
  using endpoint_msg_manager_type = websocketpp::message_buffer::alloc::endpoint_msg_manager<con_msg_manager_type>;
  using concurrency_type = websocketpp::concurrency::none;
  using alog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::alevel>;
  using elog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::elevel>;
  using rng_type = MaskKeyRng;
  struct transport_config : Base::transport_config {
    using concurrency_type = SingleThreadClientConfig::concurrency_type;
    using alog_type = SingleThreadClientConfig::alog_type;
    using elog_type = SingleThreadClientConfig::elog_type;
    static const bool enable_multithreading = false;
  };
  using transport_type = InlineWriteEndpoint<transport_config>;
};
using WsClientConfig = SingleThreadClientConfig<websocketpp::config::asio_client>;
using WssClientConfig = SingleThreadClientConfig<websocketpp::config::asio_tls_client>;
using WsClient = websocketpp::client<WsClientConfig>;    // ws://
using WssClient = websocketpp::client<WssClientConfig>;  // wss://

struct WsTransportOptions {
  std::chrono::milliseconds ping_interval{10'000};  // send a ping after this much silence
  std::chrono::milliseconds idle_timeout{30'000};   // no frame at all for this long = dead peer
  std::chrono::milliseconds close_timeout{1'000};   // wait this long for the peer's close frame
};

// What the session runner sees of a transport, whichever the scheme.
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

  // Sends one WAMP message already encoded as msgpack (an INVOCATION's YIELD or ERROR, built
  // by the runner without Autobahn's message objects). False when not connected.
  virtual bool SendEncoded(std::string_view msgpack_message) = 0;
  // Starts closing: a close frame when open (on_closed follows the handshake or
  // close_timeout), an abort when still connecting. No-op once closing.
  virtual void Close(websocketpp::close::status::value code, const std::string& reason) = 0;
  // Forgets the session without calling its on_detach(), which asserts the session was
  // stopped; breaks the session <-> transport reference cycle at teardown.
  virtual void Release() = 0;
  // The conductor's heartbeat terms (WELCOME or a ping's payload): the conductor pings this
  // board after terms.interval of the board's silence, so a silent conductor is pinged after
  // terms.timeout of its silence (at most a minute) and given up after twice that, never sooner
  // than the options say. Under the conductor's ping ceiling the terms stretch, and so do the
  // board's checks.
  virtual void AdoptHeartbeat(const wamp::HeartbeatTerms& terms) = 0;
};

// All methods and callbacks run on the io thread of the io_context `client` was bound to.
// Client is WsClient or WssClient (explicitly instantiated in ws_transport.cpp). With
// WssClient each connection gets its own TLS context checking the conductor's certificate
// against `trust` (tls::PeerVerifier); a refused certificate ends the attempt with
// "TLS handshake with URL failed: <why>".
template <typename Client>
class BasicWsTransport : public WsTransport {
 public:
  // `error_log` is the stream `client`'s error log writes to (websocketpp keeps the system
  // error of a failed connect only there); may be null.
  BasicWsTransport(Client& client, boost::asio::io_context& io, std::string url, WsTransportOptions options,
                   Events events, std::ostringstream* error_log = nullptr, tls::ConductorTrust trust = {});
  ~BasicWsTransport() override;

  // wamp_transport.
  boost::future<void> connect() override;
  boost::future<void> disconnect() override;
  bool is_connected() const override;
  void send_message(autobahn::wamp_message&& message) override;
  bool SendEncoded(std::string_view msgpack_message) override;
  void set_pause_handler(pause_handler&& handler) override {}
  void set_resume_handler(resume_handler&& handler) override {}
  void pause() override {}
  void resume() override {}
  void attach(const std::shared_ptr<autobahn::wamp_transport_handler>& handler) override;
  void detach() override;
  bool has_handler() const override { return handler_ != nullptr; }

  void Close(websocketpp::close::status::value code, const std::string& reason) override;
  void Release() override { handler_.reset(); }
  void AdoptHeartbeat(const wamp::HeartbeatTerms& terms) override;

 private:
  using ConnectionPtr = typename Client::connection_ptr;
  using MessagePtr = typename Client::message_ptr;
  std::weak_ptr<BasicWsTransport> Weak() {
    return std::static_pointer_cast<BasicWsTransport>(shared_from_this());
  }
  // WssClient: the per-connection TLS context; WsClient: nothing.
  void PrepareTls();
  void OnOpen();
  void OnFail();
  void OnClose();
  void OnMessage(MessagePtr message);
  void Finish(const std::string& reason);
  void ScheduleLivenessCheck();
  void CheckLiveness();
  // The system error websocketpp last logged ("Connection refused"), or "".
  std::string LastLoggedError();

  Client& client_;
  boost::asio::io_context& io_;
  std::string url_;
  WsTransportOptions options_;
  Events events_;
  std::ostringstream* error_log_;
  ConnectionPtr connection_;
  tls::ConductorTrust trust_;
  std::shared_ptr<tls::PeerVerifier> verifier_;  // wss: the current connection's checker
  std::string tls_setup_error_;                   // wss: why no TLS context could be made
  boost::promise<void> connect_promise_;
  boost::asio::steady_timer liveness_timer_;
  // msgpack-cxx's unpack state, kept for every message (msgpack::unpack makes one per message,
  // with a 1.5 KB stack whose malloc also consolidated the heap each time). Its stack keeps the
  // size of the deepest message: nesting is bounded, far above the conductor's 128 levels.
  static constexpr size_t kMaxUnpackDepth = 512;
  msgpack::detail::context unpack_context_{
      nullptr, nullptr,
      msgpack::unpack_limit(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, kMaxUnpackDepth)};
  std::chrono::steady_clock::time_point last_received_;
  // The silences checked now: options_'s, or longer as the conductor's terms say (AdoptHeartbeat),
  // the ping at most after kMaxPingAfter.
  static constexpr std::chrono::milliseconds kMaxPingAfter{60'000};
  std::chrono::milliseconds ping_after_;
  std::chrono::milliseconds dead_after_;
  std::optional<wamp::HeartbeatTerms> terms_;  // the last adopted
  std::shared_ptr<autobahn::wamp_transport_handler> handler_;
  std::string close_reason_;  // ours, when we started the close
  bool connect_called_ = false;
  bool open_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace ew::agent::session
