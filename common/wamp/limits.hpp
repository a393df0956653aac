// What a WAMP message may hold, shared by the router that enforces it and every sender that must
// stay within it (the agent checks its own results, so a bad result fails only its call instead
// of the router ending the board's whole session).
#pragma once

#include <cstddef>
#include <string_view>

#include "common/error/error.hpp"
#include "common/wamp/message.hpp"

namespace ew::wamp {

// Deepest nesting a decoded frame may have, counting the message array itself. nlohmann's copy,
// dump, compare and msgpack reader recurse per level; this bound keeps every later use of a
// decoded value far from the stack limit, and no WAMP message needs more.
constexpr size_t kMaxDepth = 128;
// The deepest args list or kwargs object a peer may send: the message array holds them, so one
// level of kMaxDepth is taken.
constexpr size_t kMaxPayloadDepth = kMaxDepth - 1;
// Bytes a message adds around its args and kwargs (type, ids, options, URI), generously: a
// sender keeps its encoded payload within max_message_bytes - this - the URI's length.
constexpr size_t kEnvelopeBytes = 512;

// Whether a payload fits what a router with `max_message_bytes` accepts, checked by a sender
// before it sends: InvalidArgument naming the limit that `what` ("result", "event") breaks. The
// depth is checked before encoding (encoders recurse per level), the encoded size after.
ew::Result<void> CheckPayloadDepth(const Value& args, const Value& kwargs, std::string_view what);
ew::Result<void> CheckEncodedSize(size_t encoded_bytes, size_t max_message_bytes, std::string_view what);
// Both.
ew::Result<void> CheckPayloadFits(const Value& args, const Value& kwargs, size_t encoded_bytes,
                                  size_t max_message_bytes, std::string_view what);
}  // namespace ew::wamp
