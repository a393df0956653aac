// Strict, small URL parsing: the inputs come from an operator's command line or the conductor.
#include "device-agent/enrol/conductor_url.hpp"

#include <algorithm>
#include <cctype>

#include "common/net/loopback.hpp"

namespace ew::agent {

std::string Url::Authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string Url::ToString() const { return scheme + "://" + Authority() + target; }

ew::Result<Url> ParseUrl(std::string_view text) {
  auto bad = [&](const std::string& why) { return ew::InvalidArgument("bad URL \"" + std::string(text) + "\": " + why); };
  Url url;
  size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) return bad("expected scheme://host[:port][/path]");
  url.scheme = std::string(text.substr(0, sep));
  std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  uint16_t default_port = 0;
  if (url.scheme == "http" || url.scheme == "ws") default_port = 80;
  else if (url.scheme == "https" || url.scheme == "wss") default_port = 443;
  else return bad("scheme must be http, https, ws or wss");

  std::string_view rest = text.substr(sep + 3);
  size_t path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  url.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (!url.target.empty() && url.target[0] != '/') url.target = "/" + url.target;
  if (auto hash = url.target.find('#'); hash != std::string::npos) url.target.erase(hash);
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");

  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("junk after IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (url.host.empty()) return bad("empty host");
  url.port = default_port;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad("port must be a number");
    unsigned long port = std::stoul(std::string(port_text));
    if (port == 0 || port > 65535) return bad("port out of range");
    url.port = static_cast<uint16_t>(port);
  }
  return url;
}

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
