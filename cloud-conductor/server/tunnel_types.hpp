// What the conductor's server needs from whoever keeps the tunnels (cloud-conductor/tunnels) to
// take a board's tunnel WebSocket (GET /v1/tunnel/<token>, upgraded): the client connection it
// is spliced to. Beast-free.
#pragma once

#include <any>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "cloud-conductor/server/http_types.hpp"
#include "common/error/error.hpp"
#include "common/net/splice_observer.hpp"

namespace ew::server {

// A redeemed tunnel token: the client's accepted connection and who keeps the books on it; or,
// for an HTTP request proxied to the board (/v1/boards/{id}/proxy/{port}/...), `deliver`, which
// takes the board's WebSocket instead (a std::shared_ptr<websocket::stream<Stream>> in a
// std::any, the server's own stream type) and `socket` is not open.
struct TunnelEnd {
  boost::asio::ip::tcp::socket socket;
  std::shared_ptr<net::SpliceObserver> observer;
  std::function<void(std::any board_websocket)> deliver;
};

// For a request under /v1/boards/{id}/proxy/{port}/ (any method, WebSocket upgrades too),
// called on the io thread once its header is read: check the caller and open a tunnel to the
// board's 127.0.0.1:<port>. Exactly one of `answer` (the conductor answers the request itself:
// an error, or the redirect of a browser login) or `deliver` (the board's WebSocket, as
// TunnelEnd::deliver) runs, from any thread.
using ProxyOpen = std::function<void(const HttpRequestHead& head, std::function<void(HttpResponse)> answer,
                                     std::function<void(std::any board_websocket)> deliver)>;

// The cookie of a browser's proxy session (cloud-conductor/tunnels/proxy_session_book.hpp). The
// server removes it from what the board's service gets; the board's own cookies pass.
inline constexpr const char* kProxySessionCookie = "ew_proxy_session";

// `cookie_header` ("a=1; ew_proxy_session=x; b=2") without the cookies named `name`.
inline std::string WithoutCookie(const std::string& cookie_header, const std::string& name) {
  std::string out;
  size_t start = 0;
  while (start <= cookie_header.size()) {
    size_t end = cookie_header.find(';', start);
    if (end == std::string::npos) end = cookie_header.size();
    std::string item = cookie_header.substr(start, end - start);
    const size_t first = item.find_first_not_of(' ');
    item = first == std::string::npos ? "" : item.substr(first);
    const size_t eq = item.find('=');
    const std::string item_name = item.substr(0, eq);
    if (!item.empty() && item_name != name) out += (out.empty() ? "" : "; ") + item;
    start = end + 1;
  }
  return out;
}

// Called on the io thread for an upgrade request to /v1/tunnel/<token>, before the WebSocket
// handshake is answered. `board` is the X-Edgewire-Board header ("" when absent), `peer` the
// dialler's address. An error refuses the upgrade with its HTTP status (403 for a forged, used,
// expired or foreign token) and JSON body.
using TunnelAccept =
    std::function<Result<TunnelEnd>(const std::string& token, const std::string& board, const std::string& peer)>;

}  // namespace ew::server
