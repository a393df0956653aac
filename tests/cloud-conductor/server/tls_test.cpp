// TLS on the conductor's port, over real sockets on 127.0.0.1 with a CA the test makes: HTTPS
// and WSS work for a client that verifies against that CA; a client trusting another CA, an
// expired certificate and TLS 1.1 are refused; a reload picks up a new certificate and a bad one
// keeps the old; a WebSocket whose peer never finishes the close handshake still ends over TLS.
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <gtest/gtest.h>

#include "cloud-conductor/router/router.hpp"
#include "cloud-conductor/server/server.hpp"
#include "tests/support/tls_test_pki.hpp"
#include "tests/support/ticket_directory.hpp"

namespace ew::server {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

class HelloHandler final : public HttpHandler {
 public:
  // Refuses a request that says "X-Refuse" on its header, as REST refuses a bad token.
  void Admit(const HttpRequestHead& head, AdmitDone admit) override {
    if (head.Header("x-refuse").empty()) return admit(Admission{});
    HttpResponse refusal;
    refusal.status = 401;
    refusal.body = "refused";
    admit(Admission{refusal, {}});
  }
  void Handle(HttpRequest request, Respond respond) override {
    HttpResponse response;
    response.body = request.method + " " + request.path + " " + request.body;
    respond(std::move(response));
  }
};

std::filesystem::path TempDir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("ew-tls-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void CopyFile(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

class TlsTest : public ::testing::Test {
 protected:
  TlsTest()
      : dir_(TempDir()), ca_(dir_ / "ca", "edgewire-test-ca"), other_ca_(dir_ / "other", "someone-else"),
        router_(io_.get_executor(), router::RouterConfig{}, directory_, metrics_) {
    auto issued = ca_.IssueServer("server");
    cert_file_ = (dir_ / "conductor.crt").string();
    key_file_ = (dir_ / "conductor.key").string();
    CopyFile(issued.cert_file, cert_file_);
    CopyFile(issued.key_file, key_file_);
  }
  ~TlsTest() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    std::filesystem::remove_all(dir_);
  }

  ServerOptions Options() {
    ServerOptions options;
    options.tls_cert_file = cert_file_;
    options.tls_key_file = key_file_;
    options.handshake_timeout = std::chrono::seconds(1);
    options.heartbeat_timeout = std::chrono::seconds(2);
    return options;
  }

  void StartServer(ServerOptions options) {
    server_ = std::make_unique<Server>(io_, options, handler_, [this](std::shared_ptr<router::Transport> t) {
      return router_.Attach(std::move(t));
    });
    auto port = server_->Start();
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
    thread_ = std::thread([this] { io_.run(); });
  }

  // Runs ReloadTls on the server's io thread, as the conductor's SIGHUP handler does.
  Result<void> Reload() {
    std::promise<Result<void>> done;
    net::post(io_, [&] { done.set_value(server_->ReloadTls()); });
    return done.get_future().get();
  }

  // A client context that verifies the server against `ca_file` and the name "localhost".
  static std::unique_ptr<ssl::context> ClientContext(const std::string& ca_file) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->load_verify_file(ca_file);
    ctx->set_verify_mode(ssl::verify_peer);
    return ctx;
  }

  std::unique_ptr<beast::ssl_stream<tcp::socket>> ConnectTls(ssl::context& ctx) {
    auto stream = std::make_unique<beast::ssl_stream<tcp::socket>>(client_io_, ctx);
    stream->next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    SSL_set_tlsext_host_name(stream->native_handle(), "localhost");
    stream->set_verify_callback(ssl::host_name_verification("localhost"));
    stream->handshake(ssl::stream_base::client);
    return stream;
  }

  // GET `path` over HTTPS, verifying against `ca_file`; throws when the handshake fails.
  http::response<http::string_body> HttpsGet(const std::string& ca_file, const std::string& path = "/hello") {
    auto ctx = ClientContext(ca_file);
    auto stream = ConnectTls(*ctx);
    http::request<http::empty_body> req{http::verb::get, path, 11};
    req.set(http::field::host, "localhost");
    http::write(*stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(*stream, buffer, res);
    return res;
  }

  // The handshake's failure, "" when it succeeded.
  std::string HandshakeError(const std::string& ca_file) {
    try {
      HttpsGet(ca_file);
      return "";
    } catch (const boost::system::system_error& e) {
      return e.what();
    }
  }

  // Reads until the server ends the connection; false when it is still open after `within`.
  template <typename Stream>
  bool ServerHangsUp(Stream& stream, std::chrono::milliseconds within) {
    char data[4096];
    bool ended = false;
    std::function<void()> read = [&] {
      stream.async_read_some(net::buffer(data), [&](boost::system::error_code ec, size_t) {
        if (ec) {
          ended = true;
          return;
        }
        read();
      });
    };
    read();
    client_io_.restart();
    client_io_.run_for(within);
    const bool result = ended;
    if (!ended) {
      beast::get_lowest_layer(stream).cancel();
      client_io_.restart();
      client_io_.run();
    }
    return result;
  }

  std::filesystem::path dir_;
  ew::testing::TestPki ca_;
  ew::testing::TestPki other_ca_;
  std::string cert_file_;
  std::string key_file_;
  net::io_context io_;
  net::io_context client_io_;
  ew::testing::TicketDirectory directory_;
  metrics::Registry metrics_;
  router::Router router_;
  HelloHandler handler_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(TlsTest, HttpsRequestVerifiesAgainstTheCaTheTestMade) {
  StartServer(Options());
  EXPECT_TRUE(server_->is_tls());
  auto res = HttpsGet(ca_.ca_file());
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "GET /hello ");
}

TEST_F(TlsTest, KeepAliveServesSeveralRequestsOnOneTlsConnection) {
  StartServer(Options());
  auto ctx = ClientContext(ca_.ca_file());
  auto stream = ConnectTls(*ctx);
  beast::flat_buffer buffer;
  for (int i = 0; i < 3; ++i) {
    http::request<http::string_body> req{http::verb::post, "/echo", 11};
    req.set(http::field::host, "localhost");
    req.body() = "n" + std::to_string(i);
    req.prepare_payload();
    http::write(*stream, req);
    http::response<http::string_body> res;
    http::read(*stream, buffer, res);
    EXPECT_EQ(res.body(), "POST /echo n" + std::to_string(i));
  }
}

TEST_F(TlsTest, RefusalsOnTheHeaderComeBackOverTlsWithoutTheBody) {
  StartServer(Options());
  for (const auto& [extra, status] : std::vector<std::pair<std::string, unsigned>>{
           {"X-Refuse: yes\r\nContent-Length: 500000\r\n", 401u}, {"Content-Length: 2000000\r\n", 413u}}) {
    auto ctx = ClientContext(ca_.ca_file());
    auto stream = ConnectTls(*ctx);
    net::write(*stream, net::buffer("POST /upload HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n"));
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(*stream, buffer, res);  // not a byte of the body was sent
    EXPECT_EQ(res.result_int(), status);
    EXPECT_FALSE(res.keep_alive());
  }
}

TEST_F(TlsTest, WssCarriesAWampSession) {
  StartServer(Options());
  auto ctx = ClientContext(ca_.ca_file());
  websocket::stream<beast::ssl_stream<tcp::socket>> ws(client_io_, *ctx);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  SSL_set_tlsext_host_name(ws.next_layer().native_handle(), "localhost");
  ws.next_layer().set_verify_callback(ssl::host_name_verification("localhost"));
  ws.next_layer().handshake(ssl::stream_base::client);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(http::field::sec_websocket_protocol, "wamp.2.json"); }));
  ws.handshake("localhost", "/ws");
  ws.text(true);
  beast::flat_buffer buffer;
  ws.write(net::buffer(std::string(R"([1,"edgewire",{"authmethods":["ticket"],"roles":{"caller":{}}}])")));
  ws.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()).substr(0, 3), "[4,");  // CHALLENGE
  buffer.consume(buffer.size());
  ws.write(net::buffer(std::string(R"([5,"good",{}])")));
  ws.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()).substr(0, 3), "[2,");  // WELCOME
  buffer.consume(buffer.size());
  ws.write(net::buffer(std::string(R"([32,1,{},"com.example.topic"])")));
  ws.read(buffer);
  EXPECT_EQ(beast::buffers_to_string(buffer.data()).substr(0, 4), "[33,");  // SUBSCRIBED
  ws.close(websocket::close_code::normal);
}

TEST_F(TlsTest, AClientThatTrustsAnotherCaIsRefused) {
  StartServer(Options());
  EXPECT_NE(HandshakeError(other_ca_.ca_file()).find("certificate verify failed"), std::string::npos);
  EXPECT_EQ(HandshakeError(ca_.ca_file()), "") << "the server lives on";
}

TEST_F(TlsTest, AnExpiredCertificateIsRefusedByAVerifyingClient) {
  auto expired = ca_.IssueServer("expired", -10 * 86400, -86400);
  CopyFile(expired.cert_file, cert_file_);
  CopyFile(expired.key_file, key_file_);
  StartServer(Options());
  EXPECT_NE(HandshakeError(ca_.ca_file()).find("certificate verify failed"), std::string::npos);
}

TEST_F(TlsTest, OldTlsVersionsAreRefused) {
  StartServer(Options());
  auto ctx = ClientContext(ca_.ca_file());
  SSL_CTX_set_max_proto_version(ctx->native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_security_level(ctx->native_handle(), 0);  // let the client offer TLS 1.1 at all
  EXPECT_THROW(ConnectTls(*ctx), boost::system::system_error);
  EXPECT_EQ(HandshakeError(ca_.ca_file()), "");
}

TEST_F(TlsTest, PlainHttpOnTheTlsPortIsDroppedWithoutHarm) {
  StartServer(Options());
  tcp::socket socket(client_io_);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
  net::write(socket, net::buffer(std::string("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_TRUE(ServerHangsUp(socket, std::chrono::milliseconds(5000)));
  EXPECT_EQ(HandshakeError(ca_.ca_file()), "");
}

TEST_F(TlsTest, ReloadPicksUpANewCertificateForNewConnections) {
  StartServer(Options());
  ASSERT_EQ(HandshakeError(ca_.ca_file()), "");
  // A connection opened before the reload keeps working on the old certificate.
  auto ctx = ClientContext(ca_.ca_file());
  auto before = ConnectTls(*ctx);
  auto renewed = other_ca_.IssueServer("renewed");
  CopyFile(renewed.cert_file, cert_file_);
  CopyFile(renewed.key_file, key_file_);
  ASSERT_TRUE(Reload());
  EXPECT_EQ(HandshakeError(other_ca_.ca_file()), "");
  EXPECT_NE(HandshakeError(ca_.ca_file()), "");
  http::request<http::empty_body> req{http::verb::get, "/old", 11};
  req.set(http::field::host, "localhost");
  http::write(*before, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(*before, buffer, res);
  EXPECT_EQ(res.body(), "GET /old ");
}

TEST_F(TlsTest, ABadCertificateOnReloadIsRefusedAndTheOldOneKept) {
  StartServer(Options());
  std::ofstream(cert_file_) << "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
  auto reloaded = Reload();
  ASSERT_FALSE(reloaded);
  EXPECT_NE(reloaded.error().message.find(cert_file_), std::string::npos) << reloaded.error().message;
  // A key that does not match the certificate is refused too.
  auto other = other_ca_.IssueServer("mismatch");
  CopyFile(ca_.IssueServer("fresh").cert_file, cert_file_);
  CopyFile(other.key_file, key_file_);
  reloaded = Reload();
  ASSERT_FALSE(reloaded);
  EXPECT_NE(reloaded.error().message.find("mismatch"), std::string::npos) << reloaded.error().message;
  EXPECT_EQ(HandshakeError(ca_.ca_file()), "");
}

TEST(TlsStartTest, PlainIsRefusedOffLoopbackUnlessAllowed) {
  net::io_context io;
  HelloHandler handler;
  ServerOptions options;
  options.address = "0.0.0.0";
  Server refused(io, options, handler, nullptr);
  auto started = refused.Start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("tls_cert"), std::string::npos);
  EXPECT_NE(started.error().message.find("allow_plain"), std::string::npos);
  options.allow_plain = true;
  Server allowed(io, options, handler, nullptr);
  EXPECT_TRUE(allowed.Start());
  options.allow_plain = false;
  options.address = "127.0.0.1";
  Server loopback(io, options, handler, nullptr);
  EXPECT_TRUE(loopback.Start());
  EXPECT_FALSE(loopback.is_tls());
}

TEST(TlsStartTest, ACertificateWithoutItsKeyOrUnreadableIsAStartError) {
  net::io_context io;
  HelloHandler handler;
  ServerOptions options;
  options.tls_cert_file = "/nonexistent/cert.pem";
  Server half(io, options, handler, nullptr);
  auto started = half.Start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("tls_key"), std::string::npos);
  options.tls_key_file = "/nonexistent/key.pem";
  Server missing(io, options, handler, nullptr);
  started = missing.Start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("/nonexistent/cert.pem"), std::string::npos);
}

// A WebSocket peer that gets the router's close frame over TLS and never answers it: our own
// deadline closes the socket under the TLS stream and every pending operation ends (issue 11).
TEST_F(TlsTest, Issue11_WssCloseNeverAnsweredEndsByDeadline) {
  StartServer(Options());
  auto ctx = ClientContext(ca_.ca_file());
  auto stream = ConnectTls(*ctx);
  const std::string upgrade =
      "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n";
  net::write(*stream, net::buffer(upgrade));
  // A masked text frame with a HELLO for a realm that does not exist: the router ABORTs and closes.
  const std::string hello = R"([1,"no-such-realm",{}])";
  std::string frame;
  frame += static_cast<char>(0x81);
  frame += static_cast<char>(0x80 | hello.size());
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  frame.append(mask, 4);
  for (size_t i = 0; i < hello.size(); ++i) frame += static_cast<char>(hello[i] ^ mask[i % 4]);
  net::write(*stream, net::buffer(frame));
  // Never read the close frame nor answer it: the server must hang up past its 1 s deadline.
  EXPECT_TRUE(ServerHangsUp(*stream, std::chrono::milliseconds(4000)));
  EXPECT_EQ(HandshakeError(ca_.ca_file()), "");
}

}  // namespace
}  // namespace ew::server
