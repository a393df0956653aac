// Beast's synchronous stream API with tcp_stream deadlines. A kept-alive connection that the
// server closed while idle is reopened once, transparently.
#include "cloud-conductor/cli/http_client.hpp"

#include <limits>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/url/url.hpp"

namespace ew::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr uint64_t kMaxResponseBytes = 64ull << 20;

}  // namespace

Result<void> PrepareClientTls(SSL_CTX* tls, const std::string& ca_file) {
  SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION);
  SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, nullptr);
  if (ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(tls) != 1) return Unavailable("cannot load the system CAs");
  } else if (SSL_CTX_load_verify_locations(tls, ca_file.c_str(), nullptr) != 1) {
    return InvalidArgument("--ca-file " + ca_file + ": cannot load CA certificates from it");
  }
  return Ok();
}

Result<void> ExpectServerName(SSL* connection, const std::string& host) {
  // OpenSSL matches the name (or address) itself, so a mismatch has its own verify result.
  beast::error_code not_ip;
  asio::ip::make_address(host, not_ip);
  X509_VERIFY_PARAM* param = SSL_get0_param(connection);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (not_ip) {
    if (!SSL_set_tlsext_host_name(connection, host.c_str()) || X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) != 1)
      return Unavailable("cannot set TLS server name " + host);
  } else if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
    return Unavailable("cannot check certificates for address " + host);
  }
  return Ok();
}

Result<Url> ParseUrl(const std::string& text) {
  EW_TRY(url::Url parsed, url::ParseUrl(text));
  if (parsed.scheme != "http" && parsed.scheme != "https")
    return InvalidArgument("conductor URL \"" + text + "\": only http and https are supported");
  Url url;
  url.text = text;
  url.scheme = parsed.scheme;
  url.host = parsed.host;
  url.port = std::to_string(parsed.port);
  url.base_path = parsed.target;
  while (!url.base_path.empty() && url.base_path.back() == '/') url.base_path.pop_back();
  return url;
}

struct HttpClient::Impl {
  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  std::chrono::milliseconds timeout;

  std::string ca_file;  // "" = the system CAs
  bool tls_ready = false;

  Impl(std::chrono::milliseconds t, std::string ca) : timeout(t), ca_file(std::move(ca)) {}

  // Trust anchors, loaded on the first https connection (plain http never reads them).
  Result<void> PrepareTls() {
    if (tls_ready) return Ok();
    EW_TRY_VOID(PrepareClientTls(tls.native_handle(), ca_file));
    tls_ready = true;
    return Ok();
  }

  // Why the handshake failed, in words: the certificate check's verdict when there was one.
  std::string TlsFailure(const Url& url, const beast::error_code& ec) {
    const long verdict = SSL_get_verify_result(secure->native_handle());
    if (verdict == X509_V_OK) return "cannot reach the conductor at " + url.text + ": TLS handshake failed: " + ec.message();
    std::string why = X509_verify_cert_error_string(verdict);
    if (verdict == X509_V_ERR_HOSTNAME_MISMATCH || verdict == X509_V_ERR_IP_ADDRESS_MISMATCH)
      why += " (the certificate does not name " + url.host + ")";
    return "the conductor's certificate at " + url.text + " was refused: " + why + "; checked against " +
           (ca_file.empty() ? "the system CAs (give --ca-file with the CA that signed it)" : "the CA file " + ca_file);
  }

  bool connected() const { return plain.has_value() || secure.has_value(); }
  beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*secure); }

  void Close() {
    beast::error_code ignored;
    if (plain) plain->socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (secure) beast::get_lowest_layer(*secure).socket().shutdown(tcp::socket::shutdown_both, ignored);
    plain.reset();
    secure.reset();
    buffer.clear();
  }

  Result<void> Connect(const Url& url) {
    Close();
    auto unreachable = [&](const beast::error_code& ec) {
      return Unavailable("cannot reach the conductor at " + url.text + ": " + ec.message());
    };
    beast::error_code ec;
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) return unreachable(ec);
    if (url.scheme == "https") {
      EW_TRY_VOID(PrepareTls());
      secure.emplace(io, tls);
      EW_TRY_VOID(ExpectServerName(secure->native_handle(), url.host));
    } else {
      plain.emplace(io);
    }
    lowest().expires_after(timeout);
    lowest().connect(endpoints, ec);
    if (ec) {
      Close();
      return unreachable(ec);
    }
    if (secure) {
      secure->handshake(asio::ssl::stream_base::client, ec);
      if (ec) {
        std::string why = TlsFailure(url, ec);
        Close();
        return Unavailable(why);
      }
    }
    return Ok();
  }

  // Reads a streamed answer on the open connection: the head, then the body piece by piece.
  template <typename Stream>
  Result<HttpResult> ReadStream(Stream& stream, const HttpClient::OnData& on_data, std::chrono::milliseconds idle,
                                const Url& url) {
    http::response_parser<http::buffer_body> parser;
    // A stream has no length we could know of. (boost::none would say so, but Beast 1.74 then
    // refuses any body with a Content-Length.)
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    beast::error_code ec;
    lowest().expires_after(timeout);
    http::async_read_header(stream, buffer, parser, [&ec](beast::error_code e, size_t) { ec = e; });
    Run();
    if (ec) return Failed(ec, url);
    HttpResult result;
    result.status = static_cast<int>(parser.get().result_int());
    result.content_type = std::string(parser.get()[http::field::content_type]);
    const bool streaming = result.status == 200;
    char data[16 * 1024];
    while (!parser.is_done()) {
      parser.get().body().data = data;
      parser.get().body().size = sizeof data;
      lowest().expires_after(streaming ? idle : timeout);
      // read_some returns with what arrived (read would wait until the buffer is full).
      http::async_read_some(stream, buffer, parser, [&ec](beast::error_code e, size_t) { ec = e; });
      Run();
      if (ec == http::error::need_buffer) ec = {};
      const size_t n = sizeof data - parser.get().body().size;
      if (!streaming) {
        if (result.body.size() + n > kMaxResponseBytes) return Unavailable("the conductor's answer is too large");
        result.body.append(data, n);
      } else if (n > 0 && !on_data(std::string_view(data, n))) {
        break;
      }
      if (ec) return Failed(ec, url);
    }
    return result;
  }

  // Runs the operation just started to its end. tcp_stream deadlines apply to asynchronous
  // operations only: the stream reads this way so that a silent conductor times out.
  void Run() {
    io.restart();
    io.run();
  }

  static tl::unexpected<Error> Failed(const beast::error_code& ec, const Url& url) {
    if (ec == beast::error::timeout) return DeadlineExceeded("the conductor at " + url.text + " went silent");
    return Unavailable("lost the connection to the conductor at " + url.text + ": " + ec.message());
  }

  // One exchange on the open connection. `sent` tells whether the request left completely.
  beast::error_code Exchange(http::request<http::string_body>& request, http::response_parser<http::string_body>& parser,
                             bool* sent) {
    beast::error_code ec;
    lowest().expires_after(timeout);
    if (plain) {
      http::write(*plain, request, ec);
    } else {
      http::write(*secure, request, ec);
    }
    if (ec) return ec;
    *sent = true;
    lowest().expires_after(timeout);
    if (plain) {
      http::read(*plain, buffer, parser, ec);
    } else {
      http::read(*secure, buffer, parser, ec);
    }
    return ec;
  }
};

HttpClient::HttpClient(Url url, std::chrono::milliseconds timeout, std::string ca_file)
    : url_(std::move(url)), impl_(std::make_unique<Impl>(timeout, std::move(ca_file))) {}

HttpClient::~HttpClient() { impl_->Close(); }

void HttpClient::set_timeout(std::chrono::milliseconds timeout) { impl_->timeout = timeout; }

Result<HttpResult> HttpClient::Send(const std::string& method, const std::string& path, const std::string& body,
                                    const std::string& token, const std::string& content_type) {
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(url_.base_path + path);
  request.version(11);
  const bool default_port = (url_.scheme == "http" && url_.port == "80") || (url_.scheme == "https" && url_.port == "443");
  const std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
  request.set(http::field::host, default_port ? host : host + ":" + url_.port);
  request.set(http::field::user_agent, "edgewire-cli");
  request.set(http::field::accept, "application/json");
  if (!token.empty()) request.set("X-Auth-Token", token);
  if (!body.empty()) request.set(http::field::content_type, content_type);
  request.body() = body;
  request.keep_alive(true);
  request.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    const bool reused = impl_->connected();
    if (!reused) EW_TRY_VOID(impl_->Connect(url_));
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    bool sent = false;
    beast::error_code ec = impl_->Exchange(request, parser, &sent);
    if (!ec) {
      auto& response = parser.get();
      HttpResult result;
      result.status = static_cast<int>(response.result_int());
      result.content_type = std::string(response[http::field::content_type]);
      result.body = std::move(response.body());
      if (!response.keep_alive()) impl_->Close();
      return result;
    }
    impl_->Close();
    // The server closed an idle kept-alive connection (FIN, or RST when our request was already
    // in its buffer) without answering: the request never ran, so sending it again on a fresh
    // connection is safe.
    const bool closed = ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                        ec == asio::error::broken_pipe || ec == asio::error::eof;
    const bool stale = reused && attempt == 0 && !parser.got_some() && (!sent || closed);
    if (stale) continue;
    if (ec == beast::error::timeout)
      return DeadlineExceeded("the conductor at " + url_.text + " did not answer in time");
    return Unavailable("lost the connection to the conductor at " + url_.text + ": " + ec.message());
  }
}

Result<HttpResult> HttpClient::Stream(const std::string& path, const std::string& token, const OnData& on_data,
                                      std::chrono::milliseconds idle) {
  http::request<http::empty_body> request{http::verb::get, url_.base_path + path, 11};
  const bool default_port = (url_.scheme == "http" && url_.port == "80") || (url_.scheme == "https" && url_.port == "443");
  const std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
  request.set(http::field::host, default_port ? host : host + ":" + url_.port);
  request.set(http::field::user_agent, "edgewire-cli");
  request.set(http::field::accept, "text/event-stream");
  if (!token.empty()) request.set("X-Auth-Token", token);
  request.keep_alive(false);
  // A fresh connection: a stream is its connection's last exchange.
  EW_TRY_VOID(impl_->Connect(url_));
  beast::error_code ec;
  impl_->lowest().expires_after(impl_->timeout);
  if (impl_->plain) {
    http::write(*impl_->plain, request, ec);
  } else {
    http::write(*impl_->secure, request, ec);
  }
  Result<HttpResult> result = ec ? Impl::Failed(ec, url_)
                              : impl_->plain ? impl_->ReadStream(*impl_->plain, on_data, idle, url_)
                                             : impl_->ReadStream(*impl_->secure, on_data, idle, url_);
  impl_->Close();
  return result;
}

}  // namespace ew::cli
