// The CLI's HTTP/1.1 client on Boost.Beast: synchronous, one keep-alive connection reused across
// requests, TLS (with certificate and host name checks) for https URLs, and streamed bodies.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include "common/error/error.hpp"

namespace ew::cli {

struct Url {
  std::string scheme;     // "http" or "https"
  std::string host;       // "conductor.example.com", "127.0.0.1", "::1"
  std::string port;       // "8080"; the scheme's default when the URL has none
  std::string base_path;  // "" or "/prefix" (no trailing "/"), prepended to every request path
  std::string text;       // the URL as given, for messages
};

// The conductor URL as the CLI uses it: common/url's ParseUrl, limited to http(s). InvalidArgument
// for anything but http(s)://host[:port][/path].
Result<Url> ParseUrl(const std::string& text);

// The CLI's TLS client rules, shared by HttpClient and the tunnel connector's WebSockets: TLS 1.2
// or later, the peer's certificate checked against the system CAs or the PEM CAs in `ca_file`
// (InvalidArgument when it cannot be read).
Result<void> PrepareClientTls(SSL_CTX* tls, const std::string& ca_file);
// Sets SNI and the name (or IP address) the conductor's certificate must carry on `connection`.
Result<void> ExpectServerName(SSL* connection, const std::string& host);

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
};

class HttpClient {
 public:
  // `timeout` bounds connecting, and each request and its answer. For https URLs the
  // conductor's certificate must chain to the system CAs, or to the PEM CAs in `ca_file` when
  // it is given, and name the URL's host (or IP address); otherwise every request fails with
  // Unavailable "the conductor's certificate at URL was refused: <why> ...".
  explicit HttpClient(Url url, std::chrono::milliseconds timeout = std::chrono::seconds(60), std::string ca_file = "");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request; `body` non-empty is sent with `content_type` (JSON unless told, e.g.
  // "application/gzip" for a package upload); `token` non-empty as X-Auth-Token. Unavailable
  // "cannot reach the conductor at URL: ..." when connecting fails, DeadlineExceeded on timeout,
  // Unavailable for a connection lost mid-request. Any HTTP status is a success here: callers
  // read it.
  Result<HttpResult> Send(const std::string& method, const std::string& path, const std::string& body = "",
                          const std::string& token = "", const std::string& content_type = "application/json");

  // GETs `path` and hands the body of a 200 answer to `on_data` piece by piece as it arrives (a
  // stream that lasts: Server-Sent Events), until the server ends it or `on_data` returns false;
  // the connection is closed after it either way. Any other status is returned with its whole
  // body, as Send returns it. DeadlineExceeded when nothing arrives for `idle`; Unavailable when
  // the connection fails or drops mid-stream. The returned body is empty for a 200.
  using OnData = std::function<bool(std::string_view data)>;
  Result<HttpResult> Stream(const std::string& path, const std::string& token, const OnData& on_data,
                            std::chrono::milliseconds idle);

  void set_timeout(std::chrono::milliseconds timeout);
  const Url& url() const { return url_; }

 private:
  struct Impl;
  Url url_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ew::cli
