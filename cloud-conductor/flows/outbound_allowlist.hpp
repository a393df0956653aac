// [flows] cloud_outbound as the flow runtime's outbound policy (RuntimeOptions::outbound) for the
// cloud partitions the conductor runs: nodes that dial out (http request, mqtt in/out) reach only
// the listed "host:port" places, so a flow cannot make the conductor reach its own network, its
// loopback services or a cloud metadata endpoint (server-side request forgery). Boards keep no
// policy: their network is their owner's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/error/error.hpp"

namespace ew::conductor::flows {

using OutboundPolicy = std::function<Result<void>(const std::string& host, uint16_t port)>;

// `entries` are "host:port" or "[v6]:port" (checked when the config was read). A place matches
// when its host (case-insensitive; an IPv6 literal without brackets) and port equal an entry's:
// literally, so "127.1", "0x7f.1" or a name resolving to a listed address match nothing they do
// not spell. Otherwise PermissionDenied naming the place. An empty list refuses every place.
OutboundPolicy OutboundAllowList(const std::vector<std::string>& entries);

}  // namespace ew::conductor::flows
