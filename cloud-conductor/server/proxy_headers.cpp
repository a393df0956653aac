#include "cloud-conductor/server/proxy_headers.hpp"

#include <array>

namespace ew::server {

std::string CanonicalHeaderName(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c == '_') c = '-';
    else if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsForwardingHeader(std::string_view name) {
  const std::string n = CanonicalHeaderName(name);
  // Every spelling a server or framework reads a client's address, scheme or host from.
  static constexpr std::array<std::string_view, 6> kExact = {
      "forwarded",   "x-real-ip",           "x-client-ip",
      "true-client-ip", "x-cluster-client-ip", "x-original-forwarded-for"};
  for (std::string_view e : kExact) {
    if (n == e) return true;
  }
  return n.rfind("x-forwarded", 0) == 0;  // X-Forwarded, X-Forwarded-For, -Host, -Proto, ...
}

bool DropFromProxiedHead(std::string_view name, ProxyHeadKind kind) {
  if (IsForwardingHeader(name)) return true;
  const std::string n = CanonicalHeaderName(name);
  if (n == "host" || n == "x-auth-token" || n == "keep-alive" || n == "proxy-connection") return true;
  if (n == "connection" || n == "te" || n == "trailer") return true;
  if (kind.bearer && n == "authorization") return true;
  if (!kind.upgrade && n == "upgrade") return true;
  const bool underscored = name.find('_') != std::string_view::npos;
  return underscored && (n == "content-length" || n == "transfer-encoding");
}

std::string_view ProxiedConnectionHeader(ProxyHeadKind kind) {
  return kind.upgrade ? "Connection: Upgrade\r\n" : "Connection: close\r\n";
}

}  // namespace ew::server
