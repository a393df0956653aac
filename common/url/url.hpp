// The one URL parser, for the few shapes Edgewire dials: http(s)://host[:port][/path] for the
// conductor's REST API (agent enrolment, the CLI) and ws(s)://host[:port][/path] for its WAMP
// endpoint. Boost 1.74 has no Boost.URL; this covers what we use and rejects the rest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error/error.hpp"

namespace ew::url {

struct Url {
  std::string scheme;  // "http", "https", "ws" or "wss", lower case
  std::string host;    // name or address; an IPv6 literal without its brackets
  uint16_t port = 0;   // explicit, or the scheme's default (80, 443)
  std::string target;  // path and query, "/" when absent; never a fragment

  bool is_secure() const { return scheme == "https" || scheme == "wss"; }
  // host:port with brackets around IPv6, for the Host header.
  std::string Authority() const;
  std::string ToString() const;
};

// Parses scheme://host[:port][/path][?query][#fragment] (the scheme in any case; the fragment
// dropped). InvalidArgument, quoting the text, for: no scheme, a scheme other than the four,
// user info, an empty host, a host with spaces, control characters or backslashes, an
// unterminated or non-IPv6 bracketed host, anything between "]" and ":", an empty, non-numeric,
// zero or over-65535 port. Pure, thread-safe.
Result<Url> ParseUrl(std::string_view text);

}  // namespace ew::url
