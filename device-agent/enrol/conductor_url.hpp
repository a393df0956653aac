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

// Plain ws:// and http:// carry the board's secret and its commands in clear: allowed to a
// loopback host, elsewhere only with `insecure` (the operator's --insecure). InvalidArgument
// naming the flag otherwise. wss:// and https:// always pass.
ew::Result<void> CheckPlainTransportAllowed(const Url& url, bool insecure);

// The WAMP URL a board enrolled over https:// must use: a ws:// URL from the conductor becomes
// wss:// (same host, port and path; the conductor serves both on one port, and one behind a TLS
// proxy may not know it is), so that an https enrolment never leads to a clear-text session.
// Anything else is returned unchanged.
ew::Result<std::string> SecureWampUrl(std::string_view wamp_url, const Url& enrolled_with);

}  // namespace ew::agent
