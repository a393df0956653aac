#include "cloud-conductor/flows/outbound_allowlist.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace ew::conductor::flows {

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "host:port" with an IPv6 host in brackets, lower case: the one spelling entries and places share.
std::string Place(const std::string& host, uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return Lower(v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

OutboundPolicy OutboundAllowList(const std::vector<std::string>& entries) {
  std::set<std::string> allowed;
  for (const auto& entry : entries) allowed.insert(Lower(entry));
  return [allowed = std::move(allowed)](const std::string& host, uint16_t port) -> Result<void> {
    const std::string place = Place(host, port);
    if (allowed.count(place)) return Ok();
    return PermissionDenied("the conductor's cloud flows may dial only the places in [flows] cloud_outbound, and " +
                            place + " is not one: place this node on a board, or ask the operator to list it");
  };
}

}  // namespace ew::conductor::flows
