// The few URL shapes the agent handles: http(s)://host[:port][/path] for the conductor's REST
// API and ws(s)://host[:port][/path] for its WAMP endpoint. Boost 1.74 has no Boost.URL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error/error.hpp"

namespace ew::agent {

struct Url {
  std::string scheme;  // "http", "https", "ws" or "wss", lower case
  std::string host;    // name or address; IPv6 without brackets
  uint16_t port = 0;   // explicit, or the scheme's default
  std::string target;  // path and query, "/" when absent

  bool is_secure() const { return scheme == "https" || scheme == "wss"; }
  // host:port with brackets around IPv6, for the Host header.
  std::string Authority() const;
  std::string ToString() const;
};

// InvalidArgument for anything else (no scheme, unknown scheme, empty host, bad port, userinfo).
ew::Result<Url> ParseUrl(std::string_view text);

// The WAMP URL that goes with a conductor URL given by the operator: ws(s)://same host and
// port, the conductor's path + "/ws" (http://h:8080 → ws://h:8080/ws). A ws(s) URL is
// returned unchanged.
ew::Result<std::string> WampUrlFor(std::string_view conductor_or_wamp_url);

}  // namespace ew::agent
