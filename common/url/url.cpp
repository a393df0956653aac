#include "common/url/url.hpp"

#include <algorithm>
#include <cctype>

namespace ew::url {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// What may stand between brackets: hex digits, colons, and the dots of an embedded IPv4 tail.
bool LooksLikeIpv6(std::string_view host) {
  if (host.find(':') == std::string_view::npos) return false;
  return std::all_of(host.begin(), host.end(),
                     [](unsigned char c) { return std::isxdigit(c) != 0 || c == ':' || c == '.'; });
}

bool HostCharactersOk(std::string_view host) {
  return std::none_of(host.begin(), host.end(),
                      [](unsigned char c) { return c <= ' ' || c == 0x7f || c == '\\' || c == '[' || c == ']'; });
}

}  // namespace

std::string Url::Authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string Url::ToString() const { return scheme + "://" + Authority() + target; }

Result<Url> ParseUrl(std::string_view text) {
  auto bad = [&](const std::string& why) { return InvalidArgument("bad URL \"" + std::string(text) + "\": " + why); };
  Url url;
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) return bad("expected scheme://host[:port][/path]");
  url.scheme = std::string(text.substr(0, sep));
  std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  uint16_t default_port = 0;
  if (url.scheme == "http" || url.scheme == "ws") default_port = 80;
  else if (url.scheme == "https" || url.scheme == "wss") default_port = 443;
  else return bad("scheme must be http, https, ws or wss");

  const std::string_view rest = text.substr(sep + 3);
  const size_t path_start = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, path_start);
  url.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (auto hash = url.target.find('#'); hash != std::string::npos) url.target.erase(hash);
  if (url.target.empty() || url.target[0] != '/') url.target = "/" + url.target;
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");

  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    url.host = std::string(authority.substr(1, close - 1));
    if (!LooksLikeIpv6(url.host)) return bad("only an IPv6 address may stand in brackets");
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("junk after IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
    // An unbracketed IPv6 address would have been split at its last colon.
    if (url.host.find(':') != std::string::npos) return bad("an IPv6 address needs brackets: [::1]:8080");
  }
  if (url.host.empty()) return bad("empty host");
  if (!HostCharactersOk(url.host)) return bad("the host holds spaces, control characters or backslashes");
  url.port = default_port;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), IsDigit))
      return bad("port must be a number");
    const unsigned long port = std::stoul(std::string(port_text));
    if (port == 0 || port > 65535) return bad("port out of range");
    url.port = static_cast<uint16_t>(port);
  }
  return url;
}

}  // namespace ew::url
