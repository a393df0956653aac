// Whether a host or address is the machine itself: the one check behind every "plain transport
// only to loopback" rule (the conductor's listener without TLS, the agent dialling ws:// or
// enrolling over http://).
#pragma once

#include <string_view>

namespace ew::net {

// True for "localhost" (any case, with or without the trailing dot), an address in 127.0.0.0/8,
// ::1, and 127.0.0.0/8 written as IPv4-mapped IPv6 (::ffff:127.x.y.z): traffic that never
// leaves the machine. False for every other name (it may resolve anywhere), 0.0.0.0, ::, and
// anything that does not parse.
bool IsLoopbackHost(std::string_view host);

}  // namespace ew::net
