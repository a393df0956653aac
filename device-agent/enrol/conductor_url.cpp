// The agent's rules for the conductor's URLs; parsing is common/url's.
#include "device-agent/enrol/conductor_url.hpp"

#include <algorithm>
#include <cctype>

#include <boost/asio/ip/address.hpp>

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

bool IsLoopbackHost(std::string_view host) {
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!lower.empty() && lower.back() == '.') lower.pop_back();  // "localhost."
  if (lower == "localhost") return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(lower, ec);
  if (ec) return false;  // a name other than localhost may resolve anywhere
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()).is_loopback();
  return address.is_loopback();
}

ew::Result<void> CheckPlainTransportAllowed(const Url& url, bool insecure) {
  if (url.is_secure() || insecure || IsLoopbackHost(url.host)) return ew::Ok();
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
