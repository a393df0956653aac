// The agent's rules for the conductor's URLs; parsing is common/url's.
#include "device-agent/enrol/conductor_url.hpp"

#include <algorithm>
#include <cctype>

#include "common/net/loopback.hpp"

namespace ew::agent {

ew::Result<std::string> WampUrlFor(std::string_view conductor_or_wamp_url) {
  EW_TRY(Url url, ParseUrl(conductor_or_wamp_url));
  if (url.scheme == "ws" || url.scheme == "wss") return std::string(conductor_or_wamp_url);
  url.scheme = url.scheme == "https" ? "wss" : "ws";
  std::string base = url.target.substr(0, url.target.find('?'));
  while (!base.empty() && base.back() == '/') base.pop_back();
  url.target = base + "/ws";
  return url.ToString();
}

ew::Result<void> CheckPlainTransportAllowed(const Url& url, bool insecure) {
  if (url.is_secure() || insecure || ew::net::IsLoopbackHost(url.host)) return ew::Ok();
  const std::string secure = url.scheme == "ws" ? "wss" : "https";
  return ew::InvalidArgument("refusing " + url.scheme + "://" + url.Authority() + ": plain " + url.scheme +
                             " to a host that is not loopback sends the board's secret and commands in clear; use " +
                             secure + ":// or give --insecure");
}

ew::Result<std::string> SecureWampUrl(std::string_view wamp_url, const Url& enrolled_with) {
  EW_TRY(Url url, ParseUrl(wamp_url));
  if (!enrolled_with.is_secure() || url.scheme != "ws") return std::string(wamp_url);
  url.scheme = "wss";
  return url.ToString();
}

}  // namespace ew::agent
