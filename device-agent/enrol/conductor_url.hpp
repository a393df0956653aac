// What the agent does with the conductor's URLs (http(s) for REST, ws(s) for WAMP): the WAMP URL
// for a conductor URL, the loopback and clear-text rules. Parsing is common/url's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error/error.hpp"
#include "common/url/url.hpp"

namespace ew::agent {

// The parser is common/url's, shared with the CLI.
using url::ParseUrl;
using url::Url;

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
