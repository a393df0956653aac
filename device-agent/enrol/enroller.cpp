// One HTTP/1.1 request with Boost.Beast. Beast's blocking calls have no timeout, so the
// exchange runs as async operations on a private io_context under one deadline; the caller
// still just blocks until it is over.
#include "device-agent/enrol/enroller.hpp"

#include <functional>
#include <optional>

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "device-agent/enrol/conductor_url.hpp"
#include "device-agent/enrol/enrol_messages.hpp"
#include "device-agent/tls/peer_verifier.hpp"

namespace ew::agent {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr size_t kMaxResponseBytes = 64 * 1024;  // an EnrolResponse is a few hundred bytes

tl::unexpected<EnrolFailure> Failed(std::string message) {
  return tl::unexpected(EnrolFailure{EnrolFailure::Kind::kFailed, 0, std::move(message)});
}

// A failure of the options given, found before anything is sent.
tl::unexpected<EnrolFailure> UsageFailed(std::string message) {
  return tl::unexpected(EnrolFailure{EnrolFailure::Kind::kFailed, 0, std::move(message), /*usage=*/true});
}

struct Exchange {
  boost::system::error_code ec;
  std::string step;  // what was being done when `ec` happened
  std::string tls_failure;  // why the conductor's certificate was refused, when it was
  http::response<http::string_body> response;
};

// Write the request and read the answer on a connected (and for TLS, handshaken) stream.
template <typename Stream>
void WriteAndRead(Stream& stream, http::request<http::string_body>& request, beast::flat_buffer& buffer,
                  http::response_parser<http::string_body>& parser, Exchange& result,
                  std::function<void()> close) {
  http::async_write(stream, request, [&, close](boost::system::error_code ec, size_t) {
    if (ec) {
      result.step = "send request";
      result.ec = ec;
      return;
    }
    http::async_read(stream, buffer, parser, [&, close](boost::system::error_code ec, size_t) {
      if (ec) {
        result.step = "read response";
        result.ec = ec;
        return;
      }
      result.response = parser.release();
      close();
    });
  });
}

// Resolve, connect, (TLS handshake,) write, read; stops at the first error or when the
// stream's deadline passes.
Exchange Perform(const Url& url, http::request<http::string_body>& request, std::chrono::seconds timeout,
                 const tls::ConductorTrust& trust) {
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  Exchange result;
  std::shared_ptr<tls::PeerVerifier> verifier;
  std::shared_ptr<ssl::context> tls_context;
  if (url.is_secure()) {
    verifier = std::make_shared<tls::PeerVerifier>(trust, url.host);
    auto context = tls::MakeClientContext(trust, url.host, verifier);
    if (!context) {
      result.step = "TLS setup";
      result.ec = boost::asio::error::invalid_argument;
      result.tls_failure = context.error().message;
      return result;
    }
    tls_context = *context;
  }
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  if (tls_context) {
    secure.emplace(io, *tls_context);
    // SNI for names only: an IP address is not a valid server name (RFC 6066).
    boost::system::error_code not_ip;
    boost::asio::ip::make_address(url.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(secure->native_handle(), url.host.c_str());
  } else {
    plain.emplace(io);
  }
  beast::tcp_stream& lowest = secure ? beast::get_lowest_layer(*secure) : *plain;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  auto fail = [&](const char* step, boost::system::error_code ec) {
    result.step = step;
    result.ec = ec;
  };
  auto close = [&lowest] {
    beast::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
  };

  // The resolver has no deadline of its own: cancel it from the stream's timer budget.
  boost::asio::steady_timer resolve_deadline(io, timeout);
  resolve_deadline.async_wait([&](boost::system::error_code ec) {
    if (!ec) resolver.cancel();
  });
  resolver.async_resolve(url.host, std::to_string(url.port), [&](boost::system::error_code ec,
                                                                  tcp::resolver::results_type results) {
    resolve_deadline.cancel();
    if (ec) return fail("resolve", ec == boost::asio::error::operation_aborted ? beast::error::timeout : ec);
    lowest.expires_after(timeout);
    lowest.async_connect(results, [&](boost::system::error_code ec, const tcp::endpoint&) {
      if (ec) return fail("connect", ec);
      if (!secure) return WriteAndRead(*plain, request, buffer, parser, result, close);
      secure->async_handshake(ssl::stream_base::client, [&](boost::system::error_code ec) {
        if (ec) {
          result.tls_failure = verifier->failure();
          return fail("TLS handshake", ec);
        }
        WriteAndRead(*secure, request, buffer, parser, result, close);
      });
    });
  });
  io.run();
  return result;
}

std::string ErrorMessageFromBody(const std::string& body) {
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("error") && json["error"].is_object()) {
    const auto& error = json["error"];
    if (error.contains("message") && error["message"].is_string()) return error["message"].get<std::string>();
  }
  return "";
}

}  // namespace

tl::expected<Credential, EnrolFailure> Enrol(const EnrolRequestOptions& options) {
  if (options.code.empty()) return UsageFailed("the enrolment code is empty");
  auto url = ParseUrl(options.conductor_url);
  if (!url) return UsageFailed(url.error().message);
  if (url->scheme != "http" && url->scheme != "https")
    return UsageFailed("the conductor URL must be https://HOST:PORT or http://HOST:PORT (got " + url->scheme + ")");
  if (auto allowed = CheckPlainTransportAllowed(*url, options.trust.insecure); !allowed)
    return UsageFailed(allowed.error().message);

  std::string base = url->target.substr(0, url->target.find('?'));
  while (!base.empty() && base.back() == '/') base.pop_back();
  http::request<http::string_body> request{http::verb::post, base + "/v1/enrol", 11};
  const uint16_t default_port = url->is_secure() ? 443 : 80;
  request.set(http::field::host, url->port == default_port ? url->host : url->Authority());
  request.set(http::field::user_agent, "edgewire-agent");
  request.set(http::field::content_type, "application/json");
  request.set(http::field::accept, "application/json");
  request.body() = EnrolRequestJson(options.code, options.hostname);
  request.prepare_payload();

  Exchange exchange = Perform(*url, request, options.timeout, options.trust);
  if (!exchange.tls_failure.empty())
    return Failed("TLS handshake with " + url->ToString() + " failed: " + exchange.tls_failure);
  if (exchange.ec && exchange.step == "resolve" && exchange.ec != beast::error::timeout)
    return Failed("cannot resolve the conductor's host name \"" + url->host + "\" (from " + url->ToString() +
                  "): " + exchange.ec.message() + "; check the name and this board's DNS");
  if (exchange.ec) {
    std::string why = exchange.ec == beast::error::timeout ? "timed out after " + std::to_string(options.timeout.count()) + "s"
                                                           : exchange.ec.message();
    return Failed("cannot reach " + url->ToString() + " (" + exchange.step + "): " + why);
  }

  const auto& response = exchange.response;
  int status = static_cast<int>(response.result_int());
  if (status < 200 || status > 299) {
    std::string message = ErrorMessageFromBody(response.body());
    if (message.empty()) message = "HTTP " + std::to_string(status) + " " + std::string(response.reason());
    return tl::unexpected(EnrolFailure{EnrolFailure::Kind::kRefused, status, message});
  }

  auto reply = ParseEnrolResponse(response.body());
  if (!reply) return Failed("the conductor's reply is not an EnrolResponse: " + reply.error().message);

  Credential credential;
  credential.board_id = reply->board_id;
  credential.secret = reply->secret;
  credential.realm = reply->realm;
  credential.wamp_url = reply->wamp_url;
  credential.salt = reply->salt;
  credential.iterations = reply->iterations;
  credential.keylen = reply->keylen;
  credential.conductor_url = options.conductor_url;
  credential.trust = options.trust;
  if (credential.wamp_url.empty()) {
    auto derived = WampUrlFor(options.conductor_url);
    if (!derived) return Failed(derived.error().message);
    credential.wamp_url = *derived;
  }
  auto secured = SecureWampUrl(credential.wamp_url, *url);
  if (!secured) return Failed("the conductor's WAMP URL is not usable: " + secured.error().message);
  credential.wamp_url = *secured;
  if (auto valid = ValidateCredential(credential); !valid)
    return Failed("the conductor's reply is incomplete: " + valid.error().message);
  return credential;
}

}  // namespace ew::agent
