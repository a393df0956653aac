// The one parser of proxy targets, /v1/boards/{id}/proxy/{port}[/rest][?query], used by the
// server (which requests go to the proxy, how their head is rewritten) and by the conductor's
// caller check, so that both read the same board and port. It works on the raw target and
// refuses percent-encoded board or port segments: a decoded and a raw reading of one target
// could otherwise name two different ports (security review L1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error/error.hpp"

namespace ew::server {

struct ProxyTarget {
  std::string board_id;
  uint16_t port = 0;
  std::string upstream;  // what the board's service gets: "/rest?query", never empty, raw
  std::string prefix;    // "/v1/boards/{id}/proxy/{port}" (X-Forwarded-Prefix, the cookie's path)
};

// True when the raw target is /v1/boards/{segment}/proxy/ or below: the server hands such a
// request to the proxy (which may then refuse it), never to the REST routes.
bool IsProxyTarget(std::string_view raw_target);

// InvalidArgument when the target is no proxy target, the board segment is empty or holds
// anything but [A-Za-z0-9._-] (a '%' included), or the port is not 1..65535 in plain digits.
Result<ProxyTarget> ParseProxyTarget(std::string_view raw_target);

}  // namespace ew::server
