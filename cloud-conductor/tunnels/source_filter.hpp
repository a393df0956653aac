// A service's source allowlist: the networks (CIDR) whose addresses may open a connection on
// its conductor port. Empty = any source. On Asio's network_v4/network_v6.
#pragma once

#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "common/error/error.hpp"

namespace ew::conductor::tunnels {

// Most networks one service may list.
inline constexpr size_t kMaxCidrs = 32;
// The widest public network a non-admin may list (docs/SECURITY.md "Tunnels"): a /24 of IPv4
// (256 addresses) or a /48 of IPv6 (one site). Networks inside the private, loopback, link-local
// and shared IPv4 ranges may be up to a /16 (review L3: all of 10/8 is every host of a large
// site's network, not an allowlist); inside the IPv6 ones any width within them.
inline constexpr unsigned kWidestUserPrefixV4 = 24;
inline constexpr unsigned kWidestUserPrefixV6 = 48;
inline constexpr unsigned kWidestUserPrivatePrefixV4 = 16;

class SourceFilter {
 public:
  // "10.0.0.0/8", "192.168.1.7" (= /32), "fd00::/8", "::1" (= /128). InvalidArgument naming the
  // entry for anything else (host bits set count as malformed: "10.0.0.1/8"), or more than
  // kMaxCidrs entries.
  static Result<SourceFilter> Parse(const std::vector<std::string>& cidrs);

  // True when the list is empty or `address` is in one of its networks. An IPv4-mapped IPv6
  // address (::ffff:10.1.2.3) is judged as its IPv4 address.
  bool Allows(const boost::asio::ip::address& address) const;

  // Whether a non-admin may list these networks (security review 2, finding 2): each must lie
  // inside a non-public range (10/8, 172.16/12, 192.168/16, 100.64/10, 127/8, 169.254/16,
  // fc00::/7, fe80::/10, ::1), no wider than kWidestUserPrivatePrefixV4 for IPv4 ones (review
  // L3), or be no wider than kWidestUserPrefixV4 / kWidestUserPrefixV6, so "0.0.0.0/0", "::/0",
  // a handful of /8s or all of 10/8 cannot open a service to the network after all.
  // PermissionDenied naming the first network that is too wide.
  Result<void> CheckUserMayList() const;

 private:
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

}  // namespace ew::conductor::tunnels
