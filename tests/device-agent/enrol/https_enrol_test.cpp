// `enrol` over https against an in-process TLS server: what the agent trusts (a CA, a pin) and
// what it refuses (another CA, a wrong name, an expired certificate, a wrong pin), each with the
// reason in the message. Issue 11: the agent spoke only http/ws.
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "device-agent/enrol/enroller.hpp"
#include "device-agent/tls/conductor_trust.hpp"
#include "tests/device-agent/tls/test_certs.hpp"

namespace ew::agent {
namespace {

namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

constexpr const char* kReply =
    R"({"boardId":"brd-1","secret":"s","realm":"edgewire","wampUrl":"ws://127.0.0.1:1/ws","salt":"NaCl","iterations":1000,"keylen":32})";

// Serves one TLS connection on 127.0.0.1:<random port> with `cert`, answering one request with
// kReply. A client that refuses the certificate just ends the handshake.
class TlsConductor {
 public:
  explicit TlsConductor(const char* cert)
      : context_(ssl::context::tls_server), acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    context_.use_certificate_chain(boost::asio::buffer(std::string(cert)));
    context_.use_private_key(boost::asio::buffer(std::string(testing::kServerKey)), ssl::context::pem);
    thread_ = std::thread([this] {
      boost::system::error_code ec;
      ssl::stream<tcp::socket> stream(io_, context_);
      acceptor_.accept(stream.next_layer(), ec);
      if (ec) return;
      stream.handshake(ssl::stream_base::server, ec);
      if (ec) return;
      handshakes_ = 1;
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> request;
      http::read(stream, buffer, request, ec);
      if (ec) return;
      http::response<http::string_body> response{http::status::ok, 11};
      response.set(http::field::content_type, "application/json");
      response.body() = kReply;
      response.prepare_payload();
      http::write(stream, response, ec);
      stream.shutdown(ec);
    });
  }
  ~TlsConductor() {
    // close() does not wake a thread blocked in accept(): a connection does (it is dropped).
    boost::system::error_code ec;
    tcp::socket wake(io_);
    wake.connect(acceptor_.local_endpoint(), ec);
    wake.close(ec);
    acceptor_.close();
    thread_.join();
  }
  std::string url(const char* host = "127.0.0.1") const {
    return std::string("https://") + host + ":" + std::to_string(acceptor_.local_endpoint().port());
  }
  int handshakes() const { return handshakes_; }

 private:
  boost::asio::io_context io_;
  ssl::context context_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<int> handshakes_{0};
};

EnrolRequestOptions Options(const std::string& url, tls::ConductorTrust trust) {
  EnrolRequestOptions options;
  options.conductor_url = url;
  options.code = "CODE-1";
  options.hostname = "pi";
  options.timeout = std::chrono::seconds(5);
  options.trust = std::move(trust);
  return options;
}

tls::ConductorTrust Ca(const char* pem) {
  tls::ConductorTrust trust;
  trust.ca_pem = pem;
  trust.ca_file = "ca.pem";
  return trust;
}

tls::ConductorTrust Pin(const std::string& pin) {
  tls::ConductorTrust trust;
  trust.pin = *tls::NormalizePin(pin);
  return trust;
}

TEST(HttpsEnrolTest, TrustsTheConductorSignedByTheCaFile) {
  TlsConductor conductor(testing::kServerCert);
  auto credential = Enrol(Options(conductor.url(), Ca(testing::kTestCa)));
  ASSERT_TRUE(credential) << credential.error().message;
  EXPECT_EQ(credential->board_id, "brd-1");
  // Enrolled over https: the conductor's ws:// URL becomes wss://, and the trust is kept.
  EXPECT_EQ(credential->wamp_url, "wss://127.0.0.1:1/ws");
  EXPECT_EQ(credential->trust.ca_pem, testing::kTestCa);
  EXPECT_EQ(credential->conductor_url, conductor.url());
}

TEST(HttpsEnrolTest, RefusesACertificateFromAnotherCa) {
  TlsConductor conductor(testing::kServerCert);
  auto credential = Enrol(Options(conductor.url(), Ca(testing::kOtherCa)));
  ASSERT_FALSE(credential);
  EXPECT_EQ(credential.error().kind, EnrolFailure::Kind::kFailed);
  const std::string& message = credential.error().message;
  EXPECT_NE(message.find("TLS handshake with https://127.0.0.1:"), std::string::npos) << message;
  EXPECT_NE(message.find("unable to get local issuer certificate"), std::string::npos) << message;
  EXPECT_NE(message.find("CA file ca.pem"), std::string::npos) << message;
}

TEST(HttpsEnrolTest, RefusesTheSystemCasForAPrivateCa) {
  TlsConductor conductor(testing::kServerCert);
  auto credential = Enrol(Options(conductor.url(), {}));
  ASSERT_FALSE(credential);
  EXPECT_NE(credential.error().message.find("the system CAs"), std::string::npos) << credential.error().message;
}

TEST(HttpsEnrolTest, RefusesACertificateForAnotherName) {
  TlsConductor conductor(testing::kWrongNameCert);
  auto credential = Enrol(Options(conductor.url(), Ca(testing::kTestCa)));
  ASSERT_FALSE(credential);
  const std::string& message = credential.error().message;
  EXPECT_NE(message.find("IP address mismatch: the certificate does not name 127.0.0.1"), std::string::npos) << message;
}

TEST(HttpsEnrolTest, ChecksHostNamesToo) {
  TlsConductor good(testing::kServerCert);
  ASSERT_TRUE(Enrol(Options(good.url("localhost"), Ca(testing::kTestCa))));
  TlsConductor wrong(testing::kWrongNameCert);
  auto credential = Enrol(Options(wrong.url("localhost"), Ca(testing::kTestCa)));
  ASSERT_FALSE(credential);
  EXPECT_NE(credential.error().message.find("hostname mismatch"), std::string::npos) << credential.error().message;
}

TEST(HttpsEnrolTest, RefusesAnExpiredCertificate) {
  TlsConductor conductor(testing::kExpiredCert);
  auto credential = Enrol(Options(conductor.url(), Ca(testing::kTestCa)));
  ASSERT_FALSE(credential);
  EXPECT_NE(credential.error().message.find("certificate has expired"), std::string::npos) << credential.error().message;
}

TEST(HttpsEnrolTest, APinOfTheCertificateOrItsKeyIsEnough) {
  {
    TlsConductor conductor(testing::kServerCert);
    auto credential = Enrol(Options(conductor.url(), Pin(std::string("sha256:") + testing::kServerCertSha256)));
    ASSERT_TRUE(credential) << credential.error().message;
    EXPECT_EQ(credential->trust.pin, std::string("sha256:") + testing::kServerCertSha256);
  }
  {
    // A key pin survives a renewed certificate (same key), names and dates not checked.
    TlsConductor conductor(testing::kWrongNameCert);
    auto credential = Enrol(Options(conductor.url(), Pin(std::string("sha256:") + testing::kServerKeySha256Base64)));
    ASSERT_TRUE(credential) << credential.error().message;
  }
}

TEST(HttpsEnrolTest, RefusesAWrongPin) {
  TlsConductor conductor(testing::kServerCert);
  auto credential = Enrol(Options(conductor.url(), Pin("sha256:" + std::string(64, 'a'))));
  ASSERT_FALSE(credential);
  const std::string& message = credential.error().message;
  EXPECT_NE(message.find("pin mismatch"), std::string::npos) << message;
  EXPECT_NE(message.find(testing::kServerCertSha256), std::string::npos) << message;  // what it does present
}

TEST(HttpsEnrolTest, PlainHttpToAnotherHostNeedsInsecure) {
  auto credential = Enrol(Options("http://192.0.2.1:8080", {}));  // TEST-NET-1: never dialled
  ASSERT_FALSE(credential);
  EXPECT_NE(credential.error().message.find("--insecure"), std::string::npos) << credential.error().message;
}

}  // namespace
}  // namespace ew::agent
