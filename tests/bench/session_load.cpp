// ew_bench_session_load: opens many idle board sessions against a conductor from one process and
// one thread, to measure what a connected board costs the conductor (memory, heartbeat work).
// Each session is a Beast async WebSocket client speaking wamp.2.msgpack that joins with WAMP-CRA
// as its board, exactly as an agent does, then stays silent; Beast answers the conductor's
// heartbeat pings while a read is pending.
//
//   ew_bench_session_load --url ws://127.0.0.1:P/ws --credentials boards.json
//                         [--concurrency 64] [--hold-seconds S] [--ca-file CA.pem] [--bind 127.0.0.2]
// --bind: the local address every connection comes from (run_scale_bench.py gives each loader its
// own 127.0.0.x, so that 100,000 connections to one port do not run out of the ~28,000 ephemeral
// ports one source address has towards it).
// A wss:// URL makes every session TLS, verified against --ca-file, as an agent's is.
//
// boards.json: [{"boardId", "secret", "salt", "iterations", "keylen"}, ...] (the fields of the
// POST /v1/enrol answer). Prints "joined N" on stdout once every handshake has ended, then holds
// the sessions until stdin reaches EOF (or for S seconds when --hold-seconds is given).
//
// --reconnect (Reliability benchmark): a session that ends, or a connection that fails, tries
// again as the agent does with a conductor that went away: a TCP connect every --probe-ms
// ±1/3 (uniform), then the whole handshake at once when the port answers. Each time every
// session is joined again after a loss, prints "all-joined <steady clock seconds>" (the clock
// of Python's time.monotonic()); "lost <N> <seconds>" when the first of a loss is seen.
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "common/ids/ids.hpp"
#include "common/wamp/codec.hpp"
#include "tests/bench/bench_support.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace wamp = ew::wamp;
using tcp = net::ip::tcp;
using ew::bench::Clock;

constexpr auto kSerializer = wamp::Serializer::kMsgpack;

struct Options {
  std::string url;
  std::string credentials_path;
  std::string ca_file;  // wss: the CA that signed the conductor's certificate
  std::string realm = "edgewire";
  size_t concurrency = 64;      // handshakes in progress at once; more only queues in the accept backlog
  unsigned hold_seconds = 0;    // 0 = hold until stdin reaches EOF
  unsigned join_timeout_seconds = 120;
  bool reconnect = false;        // rejoin after the conductor goes away (see the file comment)
  unsigned probe_ms = 750;       // --reconnect: mean interval between connection attempts
  std::string bind;              // local source address; "" = the kernel's choice
};

struct Credential {
  std::string board_id;
  std::string secret;
  std::string salt;
  int iterations = 0;
  int keylen = 0;
};

class Loader;

// Where connections come from (--bind); unset = the kernel chooses.
std::optional<net::ip::address> bind_address;

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void Start(const tcp::endpoint& endpoint, const std::string& host, const std::string& target,
                     const std::string& realm) = 0;
};

// One board's session over Stream: tcp::socket (ws://) or beast::ssl_stream<tcp::socket>
// (wss://). The Loader owns every session for the whole run and the io_context stops before they
// are destroyed, so handlers capture `this` instead of a shared_ptr: nothing per session but the
// stream and a few strings stays allocated while idle.
template <class Stream>
class BoardSession final : public SessionBase {
 public:
  BoardSession(net::io_context& io, Loader& loader, Credential credential, net::ssl::context* tls)
      : io_(io), tls_(tls), loader_(loader), ws_(std::in_place, MakeStream(io, tls)), credential_(std::move(credential)),
        redial_(io) {}

  void Start(const tcp::endpoint& endpoint, const std::string& host, const std::string& target,
             const std::string& realm) override;

 private:
  enum class State { kIdle, kHandshake, kAwaitChallenge, kAwaitWelcome, kJoined, kEnded };

  static websocket::stream<Stream> MakeStream(net::io_context& io, net::ssl::context* tls) {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      return websocket::stream<Stream>(io);
    } else {
      return websocket::stream<Stream>(io, *tls);
    }
  }

  void OnConnect(beast::error_code ec);
  void StartWebSocket();
  void OnHandshake(beast::error_code ec);
  void Write(const wamp::Message& message);
  void Read();
  void OnRead(beast::error_code ec);
  void OnChallenge(const wamp::Challenge& challenge);
  void Fail(const std::string& why);
  // --reconnect: a fresh stream and a new attempt after the jittered probe interval.
  void Redial();

  net::io_context& io_;
  net::ssl::context* tls_;
  Loader& loader_;
  std::optional<websocket::stream<Stream>> ws_;  // remade for each attempt (a closed stream is done)
  Credential credential_;
  net::steady_timer redial_;
  tcp::endpoint endpoint_;
  std::string realm_kept_;
  std::string host_kept_;
  std::string target_kept_;
  bool joined_once_ = false;
  bool counted_ = false;  // --reconnect: counted in the loader's joined_now_
  std::string derived_key_;
  std::string derived_salt_;
  State state_ = State::kIdle;
  std::string host_;
  std::string target_;
  std::string realm_;
  std::unique_ptr<websocket::response_type> response_;  // only during the opening handshake
  beast::flat_buffer buffer_;
  std::string out_;  // the frame being written; writes never overlap (one per protocol step)
};

class Loader {
 public:
  Loader(const Options& options, std::vector<Credential> credentials)
      : options_(options), credentials_(std::move(credentials)), join_timer_(io_), hold_timer_(io_), stdin_(io_) {}

  int Run() {
    auto url = ew::bench::ParseWsUrl(options_.url);
    if (!url) {
      std::cerr << "ew_bench_session_load: bad url " << options_.url << "\n";
      return 2;
    }
    if (url->tls) {
      tls_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
      tls_->set_verify_mode(net::ssl::verify_peer);
      beast::error_code ec;
      if (options_.ca_file.empty()) {
        tls_->set_default_verify_paths(ec);
      } else {
        tls_->load_verify_file(options_.ca_file, ec);
      }
      if (ec) {
        std::cerr << "ew_bench_session_load: CA file " << options_.ca_file << ": " << ec.message() << "\n";
        return 2;
      }
    }
    sessions_.reserve(credentials_.size());
    for (auto& c : credentials_) {
      if (url->tls) {
        sessions_.push_back(
            std::make_unique<BoardSession<beast::ssl_stream<tcp::socket>>>(io_, *this, std::move(c), tls_.get()));
      } else {
        sessions_.push_back(std::make_unique<BoardSession<tcp::socket>>(io_, *this, std::move(c), nullptr));
      }
    }
    credentials_.clear();
    host_ = url->host + ":" + url->port;
    target_ = url->target;
    beast::error_code ec;
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(url->host, url->port, ec);
    if (ec || results.empty()) {
      std::cerr << "ew_bench_session_load: cannot resolve " << url->host << ": " << ec.message() << "\n";
      return 2;
    }
    endpoint_ = results.begin()->endpoint();
    started_ = Clock::now();
    join_timer_.expires_after(std::chrono::seconds(options_.join_timeout_seconds));
    join_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) ReportJoined("join timeout");
    });
    if (sessions_.empty()) ReportJoined("");
    StartMore();
    io_.run();
    std::cerr << "ew_bench_session_load: done: joined " << joined_ << ", failed " << failed_ << ", lost " << lost_
              << " while holding\n";
    return joined_ == sessions_.size() && lost_ == 0 ? 0 : 1;
  }

  // Each session calls exactly one of these once its handshake ends.
  void OnJoined() {
    ++joined_;
    OnHandshakeEnded();
  }
  void OnJoinFailed(const std::string& board, const std::string& why) {
    if (failed_++ == 0) std::cerr << "ew_bench_session_load: board " << board << " did not join: " << why << "\n";
    OnHandshakeEnded();
  }
  // A joined session ended while holding.
  void OnLost(const std::string& board, const std::string& why) {
    if (options_.reconnect) {
      if (joined_now_-- == sessions_.size())
        std::cout << "lost " << board << " " << Seconds(Clock::now()) << " " << why << std::endl;
      return;
    }
    if (lost_++ == 0) std::cerr << "ew_bench_session_load: board " << board << " lost: " << why << "\n";
  }
  // --reconnect: a session joined again.
  void OnRejoined() {
    if (++joined_now_ == sessions_.size()) std::cout << "all-joined " << Seconds(Clock::now()) << std::endl;
  }
  // A session joined for the first time (counts towards joined_now_ too).
  void CountJoined() { ++joined_now_; }
  bool reconnect() const { return options_.reconnect; }
  std::chrono::milliseconds NextRedial() {
    std::uniform_real_distribution<double> r(2.0 / 3.0, 4.0 / 3.0);
    return std::chrono::milliseconds(static_cast<int64_t>(r(random_) * options_.probe_ms));
  }
  static double Seconds(Clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

 private:
  void StartMore() {
    while (in_progress_ < options_.concurrency && next_ < sessions_.size()) {
      ++in_progress_;
      sessions_[next_++]->Start(endpoint_, host_, target_, options_.realm);
    }
  }

  void OnHandshakeEnded() {
    --in_progress_;
    if (joined_ + failed_ == sessions_.size()) return ReportJoined("");
    StartMore();
  }

  void ReportJoined(const char* note) {
    if (reported_) return;
    reported_ = true;
    join_timer_.cancel();
    double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    std::cout << "joined " << joined_ << std::endl;
    std::cerr << "ew_bench_session_load: joined " << joined_ << " of " << sessions_.size() << " (failed " << failed_
              << ") in " << seconds << " s" << (*note ? std::string(" — ") + note : std::string()) << "\n";
    Hold();
  }

  void Hold() {
    if (options_.hold_seconds > 0) {
      hold_timer_.expires_after(std::chrono::seconds(options_.hold_seconds));
      hold_timer_.async_wait([this](beast::error_code) { io_.stop(); });
      return;
    }
    beast::error_code ec;
    stdin_.assign(::dup(STDIN_FILENO), ec);
    if (ec) {
      // A regular file or /dev/null cannot be polled; it is at EOF already as far as we care.
      std::cerr << "ew_bench_session_load: stdin is not a pipe or terminal; not holding\n";
      io_.stop();
      return;
    }
    WatchStdin();
  }

  void WatchStdin() {
    stdin_.async_read_some(net::buffer(stdin_buffer_), [this](beast::error_code ec, size_t) {
      if (ec) return io_.stop();  // EOF or error: the caller is done with us
      WatchStdin();
    });
  }

  const Options& options_;
  std::vector<Credential> credentials_;  // until the sessions take them
  net::io_context io_{1};
  std::unique_ptr<net::ssl::context> tls_;  // wss:// only
  std::vector<std::unique_ptr<SessionBase>> sessions_;
  tcp::endpoint endpoint_;
  std::string host_;
  std::string target_;
  net::steady_timer join_timer_;
  net::steady_timer hold_timer_;
  net::posix::stream_descriptor stdin_;
  char stdin_buffer_[256];
  Clock::time_point started_;
  size_t next_ = 0;
  size_t in_progress_ = 0;
  size_t joined_ = 0;
  size_t failed_ = 0;
  size_t lost_ = 0;
  size_t joined_now_ = 0;  // --reconnect: sessions joined at this moment
  std::mt19937_64 random_{std::random_device{}()};
  bool reported_ = false;
};

template <class Stream>
void BoardSession<Stream>::Start(const tcp::endpoint& endpoint, const std::string& host, const std::string& target,
                         const std::string& realm) {
  host_ = host;
  target_ = target;
  realm_ = realm;
  endpoint_ = endpoint;
  realm_kept_ = realm;
  host_kept_ = host;
  target_kept_ = target;
  state_ = State::kHandshake;
  if (bind_address) {
    auto& socket = beast::get_lowest_layer(*ws_);
    beast::error_code ec;
    socket.open(endpoint.protocol(), ec);
    // Port chosen at connect time, per destination: a bind() with port 0 would take one of the
    // address's ports for good, whatever the destination.
    int on = 1;
    if (!ec) ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof on);
    if (!ec) socket.bind(tcp::endpoint(*bind_address, 0), ec);
    if (ec) return Fail("bind " + bind_address->to_string() + ": " + ec.message());
  }
  beast::get_lowest_layer(*ws_).async_connect(endpoint, [this](beast::error_code ec) { OnConnect(ec); });
}

template <class Stream>
void BoardSession<Stream>::OnConnect(beast::error_code ec) {
  if (ec) return Fail("connect: " + ec.message());
  beast::get_lowest_layer(*ws_).set_option(tcp::no_delay(true), ec);
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    StartWebSocket();
  } else {
    const std::string name = host_.substr(0, host_.rfind(':'));
    SSL_set_tlsext_host_name(ws_->next_layer().native_handle(), name.c_str());
    ws_->next_layer().set_verify_callback(net::ssl::host_name_verification(name));
    ws_->next_layer().async_handshake(net::ssl::stream_base::client, [this](beast::error_code ec) {
      if (ec) return Fail("TLS handshake: " + ec.message());
      StartWebSocket();
    });
  }
}

template <class Stream>
void BoardSession<Stream>::StartWebSocket() {
  // Small frames only (HELLO, AUTHENTICATE, pongs): a 512-byte masking buffer instead of 4 KiB.
  ws_->write_buffer_bytes(512);
  ws_->read_message_max(1 << 20);
  ws_->binary(wamp::IsBinary(kSerializer));
  ws_->auto_fragment(false);
  std::string proto(wamp::SubprotocolName(kSerializer));
  ws_->set_option(websocket::stream_base::decorator(
      [proto](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, proto); }));
  response_ = std::make_unique<websocket::response_type>();
  ws_->async_handshake(*response_, host_, target_, [this](beast::error_code ec) { OnHandshake(ec); });
}

template <class Stream>
void BoardSession<Stream>::OnHandshake(beast::error_code ec) {
  if (ec) return Fail("websocket handshake: " + ec.message());
  auto chosen = (*response_)[http::field::sec_websocket_protocol];
  bool accepted = std::string_view(chosen.data(), chosen.size()) == wamp::SubprotocolName(kSerializer);
  response_.reset();
  host_ = {};
  target_ = {};
  if (!accepted) return Fail("subprotocol wamp.2.msgpack not accepted");
  wamp::Hello hello;
  hello.realm = std::move(realm_);
  hello.details = {{"roles", {{"caller", wamp::Value::object()}, {"callee", wamp::Value::object()},
                              {"publisher", wamp::Value::object()}, {"subscriber", wamp::Value::object()}}},
                   {"authmethods", {"wampcra"}},
                   {"authid", credential_.board_id}};
  state_ = State::kAwaitChallenge;
  Write(hello);
  Read();
}

template <class Stream>
void BoardSession<Stream>::Write(const wamp::Message& message) {
  out_ = wamp::Encode(kSerializer, message);
  ws_->async_write(net::buffer(out_), [this](beast::error_code ec, size_t) {
    out_ = {};
    if (ec && state_ != State::kEnded) Fail("write: " + ec.message());
  });
}

template <class Stream>
void BoardSession<Stream>::Read() {
  ws_->async_read(buffer_, [this](beast::error_code ec, size_t) { OnRead(ec); });
}

template <class Stream>
void BoardSession<Stream>::OnRead(beast::error_code ec) {
  if (state_ == State::kEnded) return;
  if (ec) return Fail("read: " + ec.message());
  auto data = buffer_.cdata();
  auto message = wamp::Decode(kSerializer, std::string_view(static_cast<const char*>(data.data()), data.size()));
  buffer_.consume(buffer_.size());
  if (!message) return Fail("undecodable frame: " + message.error().message);
  if (auto* abort = std::get_if<wamp::Abort>(&*message)) return Fail("ABORT " + abort->reason);
  if (auto* goodbye = std::get_if<wamp::Goodbye>(&*message)) return Fail("GOODBYE " + goodbye->reason);
  switch (state_) {
    case State::kAwaitChallenge:
      if (auto* challenge = std::get_if<wamp::Challenge>(&*message)) {
        OnChallenge(*challenge);
        break;
      }
      return Fail(std::string("expected CHALLENGE, got ") + wamp::TypeName(wamp::TypeOf(*message)));
    case State::kAwaitWelcome:
      if (!std::holds_alternative<wamp::Welcome>(*message))
        return Fail(std::string("expected WELCOME, got ") + wamp::TypeName(wamp::TypeOf(*message)));
      state_ = State::kJoined;
      {
        // As the agent once its procedures are registered (none here): the conductor counts the
        // board online from this call (issue 14); its RESULT is ignored below.
        wamp::Call ready;
        ready.request = 1;
        ready.procedure = "ew.conductor.board.ready";
        Write(ready);
      }
      // Idle from here on: give back what the handshake needed (kept to rejoin with --reconnect).
      buffer_ = beast::flat_buffer{};
      if (!loader_.reconnect()) {
        credential_.secret = {};
        credential_.salt = {};
      }
      if (loader_.reconnect()) counted_ = true;
      if (joined_once_) {
        loader_.OnRejoined();
        break;
      }
      joined_once_ = true;
      if (loader_.reconnect()) loader_.CountJoined();
      loader_.OnJoined();
      break;
    default:
      break;  // an idle board ignores whatever else arrives
  }
  Read();
}

template <class Stream>
void BoardSession<Stream>::OnChallenge(const wamp::Challenge& challenge) {
  const auto& extra = challenge.extra;
  std::string text = extra.value("challenge", std::string());
  std::string salt = extra.value("salt", credential_.salt);
  int iterations = extra.value("iterations", credential_.iterations);
  int keylen = extra.value("keylen", credential_.keylen);
  // Derived once and kept, as the agent's CraKey does: PBKDF2 per rejoin would make this one
  // client thread, not the conductor, the bottleneck of a herd.
  if (derived_key_.empty() || derived_salt_ != salt) {
    derived_key_ = ew::ids::WampCraDeriveKey(credential_.secret, salt, iterations, keylen);
    derived_salt_ = salt;
  }
  const std::string& key = derived_key_;
  wamp::Authenticate authenticate;
  authenticate.signature = ew::ids::WampCraSign(key, text);
  state_ = State::kAwaitWelcome;
  Write(authenticate);
}

template <class Stream>
void BoardSession<Stream>::Fail(const std::string& why) {
  State was = state_;
  state_ = State::kEnded;
  beast::error_code ignored;
  beast::get_lowest_layer(*ws_).close(ignored);
  if (loader_.reconnect() && was != State::kEnded) {
    if (counted_) loader_.OnLost(credential_.board_id, why);
    counted_ = false;
    return Redial();
  }
  if (was == State::kJoined) {
    loader_.OnLost(credential_.board_id, why);
  } else if (was != State::kEnded) {
    loader_.OnJoinFailed(credential_.board_id, why);
  }
}

template <class Stream>
void BoardSession<Stream>::Redial() {
  redial_.expires_after(loader_.NextRedial());
  redial_.async_wait([this](beast::error_code ec) {
    if (ec) return;
    // The stream is destroyed from a handler of its own timer, never from inside its handlers.
    ws_.reset();
    ws_.emplace(MakeStream(io_, tls_));
    buffer_ = beast::flat_buffer{};
    out_ = {};
    std::string host = host_kept_, target = target_kept_;
    Start(endpoint_, host, target, realm_kept_);
  });
}

// Enough descriptors for thousands of sockets: the soft limit is often 1024.
void RaiseFileLimit(size_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted + 16)
    std::cerr << "ew_bench_session_load: only " << limit.rlim_cur << " file descriptors for " << wanted
              << " sessions\n";
}

ew::Result<std::vector<Credential>> LoadCredentials(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ew::NotFound("cannot open " + path);
  auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return ew::InvalidArgument(path + ": want a JSON array of credentials");
  std::vector<Credential> out;
  out.reserve(json.size());
  for (const auto& item : json) {
    if (!item.is_object() || !item.contains("boardId") || !item.contains("secret"))
      return ew::InvalidArgument(path + ": each item needs boardId and secret");
    Credential c;
    c.board_id = item.value("boardId", "");
    c.secret = item.value("secret", "");
    c.salt = item.value("salt", "");
    c.iterations = item.value("iterations", 1000);
    c.keylen = item.value("keylen", 32);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hold many idle board sessions open against a conductor (Foundation benchmark)"};
  Options options;
  app.add_option("--url", options.url, "conductor WebSocket, ws://127.0.0.1:PORT/ws")->required();
  app.add_option("--credentials", options.credentials_path, "JSON array of enrolment answers")->required();
  app.add_option("--realm", options.realm, "WAMP realm");
  app.add_option("--ca-file", options.ca_file, "wss: CA certificate that signed the conductor's (PEM)");
  app.add_option("--concurrency", options.concurrency, "handshakes in progress at once")
      ->check(CLI::PositiveNumber);
  app.add_option("--hold-seconds", options.hold_seconds, "hold this long instead of until stdin closes");
  app.add_option("--join-timeout-seconds", options.join_timeout_seconds, "stop waiting for handshakes after this");
  app.add_flag("--reconnect", options.reconnect, "rejoin after the conductor goes away, as an agent does");
  app.add_option("--probe-ms", options.probe_ms, "--reconnect: mean interval between attempts")->check(CLI::PositiveNumber);
  app.add_option("--bind", options.bind, "local address every connection comes from (e.g. 127.0.0.2)");
  CLI11_PARSE(app, argc, argv);
  if (!options.bind.empty()) {
    boost::system::error_code ec;
    auto address = net::ip::make_address(options.bind, ec);
    if (ec) {
      std::cerr << "ew_bench_session_load: --bind " << options.bind << ": " << ec.message() << "\n";
      return 2;
    }
    bind_address = address;
  }

  std::signal(SIGPIPE, SIG_IGN);
  auto credentials = LoadCredentials(options.credentials_path);
  if (!credentials) {
    std::cerr << "ew_bench_session_load: " << credentials.error().message << "\n";
    return 2;
  }
  RaiseFileLimit(credentials->size());
  return Loader(options, std::move(*credentials)).Run();
}
