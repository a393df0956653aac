// The WebSocket is opened with Beast's synchronous calls (one at a time: the CLI serves a few
// local connections, and each waits for its own handshake), then spliced asynchronously on the
// one io thread. stdin/stdout are not sockets: --stdio joins them to one end of a loopback TCP
// pair whose other end is the splice's, so the splice is the same code for both modes.
#include "cloud-conductor/cli/service_connector.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "common/json/guarded_json.hpp"
#include "common/net/ws_splice.hpp"

namespace ew::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// The conductor's refusal, from its status and JSON error body, as an error of its kind.
Error Refusal(int status, const std::string& body, const std::string& service_id) {
  std::string message = "the conductor declined the connection (HTTP " + std::to_string(status) + ")";
  if (auto doc = json::Parse(body)) {
    if (doc->is_object() && doc->contains("error") && (*doc)["error"].is_object() &&
        (*doc)["error"].contains("message") && (*doc)["error"]["message"].is_string())
      message = (*doc)["error"]["message"].get<std::string>();
  }
  message = "service " + service_id + ": " + message;
  switch (status) {
    case 401: return Error{ErrorCode::kUnauthenticated, message};
    case 403: return Error{ErrorCode::kPermissionDenied, message};
    case 404: return Error{ErrorCode::kNotFound, message};
    case 429: return Error{ErrorCode::kResourceExhausted, message};
    default: return Error{ErrorCode::kUnavailable, message};
  }
}

// Reports a splice's end (stdio: the command is over).
class EndNotice final : public net::SpliceObserver {
 public:
  explicit EndNotice(std::function<void(const std::string&)> on_end) : on_end_(std::move(on_end)) {}
  void OnBytes(bool, size_t) override {}
  void OnEnd(const std::string& reason) override {
    if (on_end_) on_end_(reason);
  }

 private:
  std::function<void(const std::string&)> on_end_;
};

}  // namespace

struct ServiceConnector::Impl {
  Url url;
  std::string token;
  std::string ca_file;
  std::string service_id;
  ConnectOptions options;
  asio::io_context io{1};
  asio::ssl::context tls{asio::ssl::context::tls_client};
  bool tls_ready = false;

  std::string Target() const { return url.base_path + "/v1/services/" + service_id + "/connect"; }

  template <typename Ws>
  Result<void> Handshake(Ws& ws) {
    ws.set_option(websocket::stream_base::decorator([token = token](websocket::request_type& req) {
      req.set("X-Auth-Token", token);
      req.set(beast::http::field::user_agent, "edgewire-cli");
    }));
    websocket::response_type res;
    beast::error_code ec;
    ws.handshake(res, url.host + ":" + url.port, Target(), ec);
    if (!ec) {
      // A client masks what it sends through this buffer: a chunk in 4 writes, not Beast's 64.
      ws.write_buffer_bytes(64 * 1024);
      return Ok();
    }
    if (ec != websocket::error::upgrade_declined)
      return Unavailable("WebSocket to " + url.text + " failed: " + ec.message());
    // Beast 1.74's synchronous handshake drops a declined answer (websocket/impl/handshake.hpp
    // returns before filling `res`): the service's REST resource, checked by the same rules,
    // says why (who may use it, whether it exists); otherwise the refusal was a cap or the board.
    HttpClient rest(url, options.timeout, ca_file);
    auto shown = rest.Send("GET", url.base_path + "/v1/services/" + service_id, "", token);
    if (shown && shown->status >= 400) return tl::unexpected(Refusal(shown->status, shown->body, service_id));
    return Unavailable("service " + service_id +
                       ": the conductor declined the connection (a connection cap, or the board is offline or "
                       "refused the port: see `edgewire tunnel ls`)");
  }

  // Opens the service's WebSocket and splices it with `local`; `on_end` hears the splice's end.
  Result<void> Open(tcp::socket local, std::function<void(const std::string&)> on_end) {
    beast::error_code ec;
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) return Unavailable("cannot reach the conductor at " + url.text + ": " + ec.message());
    auto observer = std::make_shared<EndNotice>(std::move(on_end));
    if (url.scheme == "https") {
      if (!tls_ready) {
        EW_TRY_VOID(PrepareClientTls(tls.native_handle(), ca_file));
        tls_ready = true;
      }
      websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(io, tls);
      EW_TRY_VOID(ExpectServerName(ws.next_layer().native_handle(), url.host));
      beast::get_lowest_layer(ws).connect(endpoints, ec);
      if (ec) return Unavailable("cannot reach the conductor at " + url.text + ": " + ec.message());
      ws.next_layer().handshake(asio::ssl::stream_base::client, ec);
      if (ec) return Unavailable("TLS with the conductor at " + url.text + " failed: " + ec.message());
      EW_TRY_VOID(Handshake(ws));
      std::make_shared<net::WsSplice<beast::ssl_stream<beast::tcp_stream>>>(std::move(ws), std::move(local),
                                                                            net::SpliceOptions{}, observer)
          ->Start();
    } else {
      websocket::stream<beast::tcp_stream> ws(io);
      beast::get_lowest_layer(ws).connect(endpoints, ec);
      if (ec) return Unavailable("cannot reach the conductor at " + url.text + ": " + ec.message());
      EW_TRY_VOID(Handshake(ws));
      std::make_shared<net::WsSplice<beast::tcp_stream>>(std::move(ws), std::move(local), net::SpliceOptions{},
                                                         observer)
          ->Start();
    }
    return Ok();
  }

  void Accept(tcp::acceptor& acceptor, std::ostream& err) {
    acceptor.async_accept([this, &acceptor, &err](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // the acceptor closed
      beast::error_code ignored;
      const auto from = socket.remote_endpoint(ignored);
      auto opened = Open(std::move(socket), {});
      if (!opened) err << "connection from " << from << " closed: " << opened.error().message << std::endl;
      Accept(acceptor, err);
    });
  }
};

ServiceConnector::ServiceConnector(Url url, std::string token, std::string ca_file, std::string service_id,
                                   ConnectOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->url = std::move(url);
  impl_->token = std::move(token);
  impl_->ca_file = std::move(ca_file);
  impl_->service_id = std::move(service_id);
  impl_->options = std::move(options);
}

ServiceConnector::~ServiceConnector() = default;

Result<void> ServiceConnector::Listen(std::ostream& out, std::ostream& err) {
  auto& d = *impl_;
  beast::error_code ec;
  const auto address = asio::ip::make_address(d.options.listen_host, ec);
  if (ec) return InvalidArgument("--listen: " + d.options.listen_host + " is no IP address");
  tcp::acceptor acceptor(d.io);
  const tcp::endpoint endpoint(address, d.options.listen_port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("cannot listen on " + d.options.listen_host + ":" + std::to_string(d.options.listen_port) +
                             ": " + ec.message());
  const auto bound = acceptor.local_endpoint();
  out << "listening on " << (address.is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string())
      << ":" << bound.port() << " -> service " << d.service_id << std::endl;
  d.Accept(acceptor, err);
  d.io.run();
  return Ok();
}

Result<void> ServiceConnector::Stdio(std::ostream& err) {
  auto& d = *impl_;
  // A loopback TCP pair: `inner` is the splice's, `outer` is pumped to and from stdin/stdout.
  beast::error_code ec;
  tcp::acceptor acceptor(d.io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket outer(d.io), inner(d.io);
  outer.connect(acceptor.local_endpoint(), ec);
  if (!ec) acceptor.accept(inner, ec);
  if (ec) return Internal("cannot make a loopback socket pair: " + ec.message());
  acceptor.close();
  std::string ended;
  // The splice's end is the command's: stop the loop then, whatever else it still holds.
  EW_TRY_VOID(d.Open(std::move(inner), [&ended, &d](const std::string& reason) {
    ended = reason;
    d.io.stop();
  }));
  const int fd = outer.native_handle();
  // stdin → service; its EOF is the half-close. Detached: a read of stdin cannot be interrupted,
  // and the process ends with the connection.
  std::thread([fd] {
    char buffer[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(0, buffer, sizeof buffer);
      if (n <= 0) break;
      for (ssize_t sent = 0; sent < n;) {
        const ssize_t m = ::send(fd, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
        if (m <= 0) return;
        sent += m;
      }
    }
    ::shutdown(fd, SHUT_WR);
  }).detach();
  // service → stdout; the service's half-close closes stdout.
  std::thread down([fd] {
    char buffer[64 * 1024];
    for (;;) {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      for (ssize_t written = 0; written < n;) {
        const ssize_t m = ::write(1, buffer + written, static_cast<size_t>(n - written));
        if (m <= 0) return;
        written += m;
      }
    }
    ::close(1);
  });
  d.io.run();  // until the splice is over (both directions ended, or the conductor closed it)
  ::shutdown(fd, SHUT_RDWR);
  down.join();
  if (!ended.empty() && ended != "closed") err << "connection closed: " << ended << std::endl;
  return Ok();
}

}  // namespace ew::cli
