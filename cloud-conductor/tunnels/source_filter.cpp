#include "cloud-conductor/tunnels/source_filter.hpp"

namespace ew::conductor::tunnels {

namespace ip = boost::asio::ip;

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
