// What the conductor's server needs from whoever keeps the tunnels (cloud-conductor/tunnels) to
// take a board's tunnel WebSocket (GET /v1/tunnel/<token>, upgraded): the client connection it
// is spliced to. Beast-free.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "common/error/error.hpp"
#include "common/net/splice_observer.hpp"

namespace ew::server {

// A redeemed tunnel token: the client's accepted connection and who keeps the books on it.
struct TunnelEnd {
  boost::asio::ip::tcp::socket socket;
  std::shared_ptr<net::SpliceObserver> observer;
};

// Called on the io thread for an upgrade request to /v1/tunnel/<token>, before the WebSocket
// handshake is answered. `board` is the X-Edgewire-Board header ("" when absent), `peer` the
// dialler's address. An error refuses the upgrade with its HTTP status (403 for a forged, used,
// expired or foreign token) and JSON body.
using TunnelAccept =
    std::function<Result<TunnelEnd>(const std::string& token, const std::string& board, const std::string& peer)>;

}  // namespace ew::server
