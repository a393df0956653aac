// TlsStream over real sockets on 127.0.0.1 against a real OpenSSL client (Asio's ssl::stream,
// blocking, on a thread of its own): handshake, large writes both ways, reads into small
// buffers and records split across TCP segments, a peer that ends mid-record or sends garbage,
// close_notify both ways, full duplex, the handshake deadline, and no buffer held while idle.
#include "cloud-conductor/server/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <gtest/gtest.h>

#include "cloud-conductor/server/tls_context.hpp"
#include "tests/support/tls_test_pki.hpp"

namespace ew::server {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using boost::system::error_code;
using ClientStream = ssl::stream<tcp::socket>;

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 random(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(random());
  return out;
}

class TlsStreamTest : public ::testing::Test {
 protected:
  TlsStreamTest()
      : dir_(std::filesystem::temp_directory_path() /
             ("ew-tls-stream-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())),
        ca_(dir_ / "ca", "edgewire-test-ca"),
        acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)),
        client_ctx_(ssl::context::tls_client) {
    auto issued = ca_.IssueServer("server");
    auto context = LoadTlsServerContext(issued.cert_file, issued.key_file);
    if (!context) throw std::runtime_error(context.error().message);
    server_ctx_ = *context;
    client_ctx_.load_verify_file(ca_.ca_file());
    client_ctx_.set_verify_mode(ssl::verify_peer);
  }
  ~TlsStreamTest() override { std::filesystem::remove_all(dir_); }

  // A connected pair: the client's TCP connection and the server's TlsStream (no handshake yet).
  std::pair<std::unique_ptr<ClientStream>, std::unique_ptr<TlsStream>> Connect() {
    auto client = std::make_unique<ClientStream>(client_io_, client_ctx_);
    client->next_layer().connect(acceptor_.local_endpoint());
    SSL_set_tlsext_host_name(client->native_handle(), "localhost");
    client->set_verify_callback(ssl::host_name_verification("localhost"));
    auto server = std::make_unique<TlsStream>(acceptor_.accept(io_), server_ctx_->native_handle());
    return {std::move(client), std::move(server)};
  }

  // Runs the server's io_context until `done` or 10 s; false on the time limit.
  bool RunUntil(const bool& done) {
    io_.restart();
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done && std::chrono::steady_clock::now() < limit) {
      io_.run_for(std::chrono::milliseconds(20));
      io_.restart();
    }
    return done;
  }

  // Handshakes both sides; returns the server's error.
  error_code Handshake(ClientStream& client, TlsStream& server) {
    auto client_done = std::async(std::launch::async, [&] {
      error_code ec;
      client.handshake(ssl::stream_base::client, ec);
      return ec;
    });
    bool done = false;
    error_code server_ec;
    server.async_handshake(ssl::stream_base::server, [&](error_code ec) {
      server_ec = ec;
      done = true;
    });
    EXPECT_TRUE(RunUntil(done));
    client_done.get();
    return server_ec;
  }

  // Reads exactly `n` bytes on the server, in reads of at most `piece` bytes.
  std::string ServerRead(TlsStream& server, size_t n, size_t piece, error_code* ec_out = nullptr) {
    std::string got;
    std::vector<char> buffer(piece);
    bool done = false;
    error_code last;
    std::function<void()> next = [&] {
      server.async_read_some(net::buffer(buffer), [&](error_code ec, size_t bytes) {
        EXPECT_LE(bytes, piece);
        got.append(buffer.data(), bytes);
        if (ec || got.size() >= n) {
          last = ec;
          done = true;
          return;
        }
        next();
      });
    };
    next();
    EXPECT_TRUE(RunUntil(done));
    if (ec_out != nullptr) *ec_out = last;
    return got;
  }

  std::filesystem::path dir_;
  ew::testing::TestPki ca_;
  net::io_context io_;         // the server's, run by the test thread
  net::io_context client_io_;  // the client's sockets (blocking calls only)
  tcp::acceptor acceptor_;
  ssl::context client_ctx_;
  std::shared_ptr<ssl::context> server_ctx_;
};

TEST_F(TlsStreamTest, HandshakeAndEchoWithAVerifyingOpenSslClient) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  net::write(*client, net::buffer(std::string("hello")));
  EXPECT_EQ(ServerRead(*server, 5, 64), "hello");
  bool done = false;
  server->async_write_some(net::buffer(std::string_view("world")), [&](error_code ec, size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 5u);
    done = true;
  });
  ASSERT_TRUE(RunUntil(done));
  std::string reply(5, '\0');
  net::read(*client, net::buffer(reply));
  EXPECT_EQ(reply, "world");
}

TEST_F(TlsStreamTest, AnIdleStreamHoldsNoBuffersEvenWithAReadPending) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  EXPECT_EQ(server->buffered_capacity(), 0u);
  net::write(*client, net::buffer(RandomBytes(40'000, 1)));
  EXPECT_EQ(ServerRead(*server, 40'000, 100'000).size(), 40'000u);
  EXPECT_EQ(server->buffered_capacity(), 0u);
  // A read waiting for the peer (an idle board session) holds no buffer either.
  char byte = 0;
  bool done = false;
  server->async_read_some(net::buffer(&byte, 1), [&](error_code, size_t) { done = true; });
  io_.restart();
  io_.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(done);
  EXPECT_EQ(server->buffered_capacity(), 0u);
  net::write(*client, net::buffer(std::string("x")));
  ASSERT_TRUE(RunUntil(done));
  EXPECT_EQ(byte, 'x');
}

TEST_F(TlsStreamTest, LargeWritesArriveWholeBothWays) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  const std::string down = RandomBytes(3 << 20, 2);
  // The client reads while the server writes: 3 MiB do not fit in the sockets' buffers.
  auto received = std::async(std::launch::async, [&] {
    std::string got(down.size(), '\0');
    net::read(*client, net::buffer(got));
    return got;
  });
  bool done = false;
  net::async_write(*server, net::buffer(down), [&](error_code ec, size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, down.size());
    done = true;
  });
  ASSERT_TRUE(RunUntil(done));
  EXPECT_TRUE(received.get() == down);
  EXPECT_EQ(server->buffered_capacity(), 0u);

  const std::string up = RandomBytes(2 << 20, 3);
  auto sent = std::async(std::launch::async, [&] { net::write(*client, net::buffer(up)); });
  EXPECT_TRUE(ServerRead(*server, up.size(), 64 * 1024) == up);
  sent.get();
  EXPECT_EQ(server->buffered_capacity(), 0u);
}

TEST_F(TlsStreamTest, SmallReadBuffersTakeARecordInPieces) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  const std::string data = RandomBytes(16 * 1024, 4);  // one full record
  net::write(*client, net::buffer(data));
  EXPECT_TRUE(ServerRead(*server, data.size(), 7) == data);
}

// The record arrives a few bytes per TCP segment: the stream waits for the rest of it.
TEST_F(TlsStreamTest, ARecordSplitAcrossManySegmentsIsReassembled) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  const std::string data = RandomBytes(3000, 5);
  // Encrypt into memory, then send the ciphertext 3 bytes at a time.
  SSL* ssl = client->native_handle();
  BIO* memory = BIO_new(BIO_s_mem());
  SSL_set0_wbio(ssl, memory);  // the SSL owns it
  ASSERT_EQ(SSL_write(ssl, data.data(), static_cast<int>(data.size())), static_cast<int>(data.size()));
  char* cipher = nullptr;
  const long size = BIO_get_mem_data(memory, &cipher);
  const std::string ciphertext(cipher, static_cast<size_t>(size));
  auto sent = std::async(std::launch::async, [&] {
    client->next_layer().set_option(tcp::no_delay(true));
    for (size_t i = 0; i < ciphertext.size(); i += 3) {
      net::write(client->next_layer(), net::buffer(ciphertext.data() + i, std::min<size_t>(3, ciphertext.size() - i)));
    }
  });
  EXPECT_TRUE(ServerRead(*server, data.size(), 1024) == data);
  sent.get();
}

TEST_F(TlsStreamTest, APeerThatEndsMidRecordTruncatesTheRead) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  SSL* ssl = client->native_handle();
  BIO* memory = BIO_new(BIO_s_mem());
  SSL_set0_wbio(ssl, memory);
  const std::string data = RandomBytes(1000, 6);
  ASSERT_GT(SSL_write(ssl, data.data(), static_cast<int>(data.size())), 0);
  char* cipher = nullptr;
  const long size = BIO_get_mem_data(memory, &cipher);
  net::write(client->next_layer(), net::buffer(cipher, static_cast<size_t>(size / 2)));
  client->next_layer().shutdown(tcp::socket::shutdown_both);
  error_code ec;
  EXPECT_EQ(ServerRead(*server, 1, 4096, &ec), "");
  EXPECT_EQ(ec, net::ssl::error::stream_truncated) << ec.message();
  // And every read after it says the same at once.
  EXPECT_EQ(ServerRead(*server, 1, 4096, &ec), "");
  EXPECT_EQ(ec, net::ssl::error::stream_truncated);
}

TEST_F(TlsStreamTest, GarbageInsteadOfAHandshakeFailsItWithOpenSslsReason) {
  auto [client, server] = Connect();
  net::write(client->next_layer(), net::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")));
  bool done = false;
  error_code server_ec;
  server->async_handshake(ssl::stream_base::server, [&](error_code ec) {
    server_ec = ec;
    done = true;
  });
  ASSERT_TRUE(RunUntil(done));
  EXPECT_EQ(server_ec.category(), net::error::get_ssl_category()) << server_ec.message();
  EXPECT_EQ(server_ec.message(), "http request");  // OpenSSL's reason for HTTP on a TLS port
  EXPECT_EQ(server->buffered_capacity(), 0u);
}

TEST_F(TlsStreamTest, GarbageAfterTheHandshakeFailsTheRead) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  // An application-data record header with a body no key made.
  std::string record = "\x17\x03\x03";
  record += static_cast<char>(0);
  record += static_cast<char>(64);
  record += RandomBytes(64, 7);
  net::write(client->next_layer(), net::buffer(record));
  error_code ec;
  EXPECT_EQ(ServerRead(*server, 1, 4096, &ec), "");
  EXPECT_EQ(ec.category(), net::error::get_ssl_category()) << ec.message();
}

TEST_F(TlsStreamTest, ShutdownSendsCloseNotifyAndEndsOnThePeers) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  auto client_side = std::async(std::launch::async, [&] {
    char byte;
    error_code ec;
    client->read_some(net::buffer(&byte, 1), ec);  // the server's close_notify: eof
    error_code shutdown_ec;
    client->shutdown(shutdown_ec);  // answers with its own
    return ec;
  });
  bool done = false;
  error_code server_ec;
  server->async_shutdown([&](error_code ec) {
    server_ec = ec;
    done = true;
  });
  ASSERT_TRUE(RunUntil(done));
  EXPECT_FALSE(server_ec) << server_ec.message();
  EXPECT_EQ(client_side.get(), net::error::eof);
}

TEST_F(TlsStreamTest, ThePeersCloseNotifyEndsAReadWithEof) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  auto client_side = std::async(std::launch::async, [&] {
    error_code ec;
    // Asio's shutdown sends close_notify, then waits for ours (which comes below).
    client->shutdown(ec);
    return ec;
  });
  error_code ec;
  EXPECT_EQ(ServerRead(*server, 1, 4096, &ec), "");
  EXPECT_EQ(ec, net::error::eof) << ec.message();
  bool done = false;
  server->async_shutdown([&](error_code shutdown_ec) {
    EXPECT_FALSE(shutdown_ec) << shutdown_ec.message();
    done = true;
  });
  ASSERT_TRUE(RunUntil(done));
  client_side.get();
}

// A read stays pending (as a WebSocket's does) while writes go out; both directions complete.
TEST_F(TlsStreamTest, ReadsAndWritesOverlap) {
  auto [client, server] = Connect();
  ASSERT_FALSE(Handshake(*client, *server));
  char incoming[64];
  bool read_done = false;
  size_t read_bytes = 0;
  server->async_read_some(net::buffer(incoming), [&](error_code ec, size_t n) {
    EXPECT_FALSE(ec);
    read_bytes = n;
    read_done = true;
  });
  const std::string down = RandomBytes(1 << 20, 8);
  bool write_done = false;
  net::async_write(*server, net::buffer(down), [&](error_code ec, size_t) {
    EXPECT_FALSE(ec);
    write_done = true;
  });
  auto client_side = std::async(std::launch::async, [&] {
    std::string got(down.size(), '\0');
    net::read(*client, net::buffer(got));
    net::write(*client, net::buffer(std::string("ping")));
    return got;
  });
  ASSERT_TRUE(RunUntil(write_done));
  ASSERT_TRUE(RunUntil(read_done));
  EXPECT_EQ(std::string(incoming, read_bytes), "ping");
  EXPECT_TRUE(client_side.get() == down);
}

// A client that connects and says nothing meets the tcp_stream's deadline, as the server's
// handshake timeout uses it.
TEST_F(TlsStreamTest, TheTcpStreamsDeadlineEndsASilentHandshake) {
  auto [client, server] = Connect();
  server->next_layer().expires_after(std::chrono::milliseconds(100));
  bool done = false;
  error_code server_ec;
  server->async_handshake(ssl::stream_base::server, [&](error_code ec) {
    server_ec = ec;
    done = true;
  });
  ASSERT_TRUE(RunUntil(done));
  EXPECT_EQ(server_ec, beast::error::timeout) << server_ec.message();
}

// Our stream as the client against Asio's as the server: the role comes from async_handshake.
TEST_F(TlsStreamTest, ItCanAlsoBeTheClient) {
  auto server_side = std::async(std::launch::async, [&] {
    ssl::stream<tcp::socket> theirs(client_io_, *server_ctx_);
    acceptor_.accept(theirs.next_layer());
    theirs.handshake(ssl::stream_base::server);
    std::string got(4, '\0');
    net::read(theirs, net::buffer(got));
    return got;
  });
  SSL_CTX* client_raw = client_ctx_.native_handle();
  TlsStream ours(TcpSocket(io_), client_raw);
  ours.next_layer().socket().connect(acceptor_.local_endpoint());
  SSL_set_tlsext_host_name(ours.native_handle(), "localhost");
  bool done = false;
  ours.async_handshake(ssl::stream_base::client, [&](error_code ec) {
    EXPECT_FALSE(ec) << ec.message();
    net::async_write(ours, net::buffer(std::string_view("ours")), [&](error_code write_ec, size_t) {
      EXPECT_FALSE(write_ec);
      done = true;
    });
  });
  ASSERT_TRUE(RunUntil(done));
  EXPECT_EQ(server_side.get(), "ours");
}

}  // namespace
}  // namespace ew::server
