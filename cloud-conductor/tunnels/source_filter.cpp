#include "cloud-conductor/tunnels/source_filter.hpp"

namespace ew::conductor::tunnels {

namespace ip = boost::asio::ip;

namespace {

// Networks no Internet host is routed from: a user's allowlist may name any part of them.
const std::vector<ip::network_v4>& NonPublicV4() {
  static const std::vector<ip::network_v4> nets = {
      ip::make_network_v4("10.0.0.0/8"),   ip::make_network_v4("172.16.0.0/12"), ip::make_network_v4("192.168.0.0/16"),
      ip::make_network_v4("100.64.0.0/10"), ip::make_network_v4("127.0.0.0/8"),  ip::make_network_v4("169.254.0.0/16")};
  return nets;
}

const std::vector<ip::network_v6>& NonPublicV6() {
  static const std::vector<ip::network_v6> nets = {ip::make_network_v6("fc00::/7"), ip::make_network_v6("fe80::/10"),
                                                   ip::make_network_v6("::1/128")};
  return nets;
}

template <typename Network>
bool Inside(const Network& n, const std::vector<Network>& ranges) {
  for (const auto& r : ranges) {
    if (n == r || n.is_subnet_of(r)) return true;
  }
  return false;
}

tl::unexpected<Error> TooWide(const std::string& network, unsigned widest) {
  return PermissionDenied("allowCidrs: \"" + network + "\" is wider than a non-admin may open (public networks up to /" +
                          std::to_string(widest) +
                          "; private, loopback or link-local IPv4 ones up to /" + std::to_string(kWidestUserPrivatePrefixV4) +
                          "); ask an admin to open it");
}

}  // namespace

Result<SourceFilter> SourceFilter::Parse(const std::vector<std::string>& cidrs) {
  if (cidrs.size() > kMaxCidrs) return InvalidArgument("allowCidrs: at most " + std::to_string(kMaxCidrs) + " networks");
  SourceFilter out;
  for (const std::string& text : cidrs) {
    const std::string entry = text.find('/') == std::string::npos
                                  ? text + (text.find(':') == std::string::npos ? "/32" : "/128")
                                  : text;
    boost::system::error_code ec;
    if (entry.find(':') == std::string::npos) {
      auto network = ip::make_network_v4(entry, ec);
      if (!ec && network.network() != network.address()) ec = boost::asio::error::invalid_argument;
      if (ec) return InvalidArgument("allowCidrs: \"" + text + "\" is not a network like 10.0.0.0/8");
      out.v4_.push_back(network);
    } else {
      auto network = ip::make_network_v6(entry, ec);
      if (!ec && network.network() != network.address()) ec = boost::asio::error::invalid_argument;
      if (ec) return InvalidArgument("allowCidrs: \"" + text + "\" is not a network like fd00::/8");
      out.v6_.push_back(network);
    }
  }
  return out;
}

Result<void> SourceFilter::CheckUserMayList() const {
  for (const auto& n : v4_) {
    if (n.prefix_length() < kWidestUserPrefixV4 && !Inside(n, NonPublicV4()))
      return TooWide(n.to_string(), kWidestUserPrefixV4);
    if (n.prefix_length() < kWidestUserPrivatePrefixV4) return TooWide(n.to_string(), kWidestUserPrefixV4);
  }
  for (const auto& n : v6_) {
    if (n.prefix_length() < kWidestUserPrefixV6 && !Inside(n, NonPublicV6()))
      return TooWide(n.to_string(), kWidestUserPrefixV6);
  }
  return Ok();
}

bool SourceFilter::Allows(const ip::address& address) const {
  if (v4_.empty() && v6_.empty()) return true;
  ip::address a = address;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) a = ip::make_address_v4(ip::v4_mapped, a.to_v6());
  if (a.is_v4()) {
    const uint32_t bits = a.to_v4().to_uint();
    for (const auto& n : v4_) {
      if ((bits & n.netmask().to_uint()) == n.network().to_uint()) return true;
    }
    return false;
  }
  const ip::network_v6 host(a.to_v6(), 128);
  for (const auto& n : v6_) {
    if (host.network() == n.network() && n.prefix_length() == 128) return true;
    if (host.is_subnet_of(n)) return true;
  }
  return false;
}

}  // namespace ew::conductor::tunnels
