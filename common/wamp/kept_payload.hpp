// Payloads the router forwards between msgpack peers without decoding them (docs/ARCHITECTURE.md,
// "The RPC path's cost"). For a wamp.2.msgpack CALL, YIELD or ERROR, DecodeKeepingPayload
// decodes the envelope (ids, options, URI) as Decode does, but keeps args and kwargs as the
// peer's bytes: checked as thoroughly (msgpack_frame.hpp: well formed, depth, string keys,
// declared lengths; args a list, kwargs a dict), never built into a DOM.
//
// Such a "kept" payload travels in the ordinary Payload: `args` holds the bytes as a binary value
// with subtype kKeptArgs or kKeptArgsKwargs (1 or 2 elements; a decoded args is always a list,
// so a binary there can only be this), `kwargs` is empty. The msgpack encoder copies the bytes;
// the JSON encoder and ToArray decode them first; code that reads args or kwargs calls
// MaterializePayload first (the router does for conductor-internal callers and procedures).
#pragma once

#include <cstdint>
#include <string_view>

#include "common/error/error.hpp"
#include "common/wamp/codec.hpp"
#include "common/wamp/message.hpp"

namespace ew::wamp {

inline constexpr uint64_t kKeptArgs = 0x4b50'0001;        // bytes of an args list
inline constexpr uint64_t kKeptArgsKwargs = 0x4b50'0002;  // bytes of an args list, then a kwargs dict

// Decode, except that msgpack CALL, YIELD and ERROR keep their args and kwargs as bytes. Errors as
// Decode's (a frame the byte check refuses goes through Decode, which words the error).
ew::Result<Message> DecodeKeepingPayload(Serializer serializer, std::string_view frame);

// Whether `payload` is kept as bytes, and how many elements (1: args, 2: args and kwargs).
bool IsKeptPayload(const Payload& payload);
size_t KeptPayloadElements(const Payload& payload);

// Turns a kept payload into args and kwargs (no-op otherwise). InvalidArgument if the bytes do
// not decode (they were checked when received, so only on a bug).
ew::Result<void> MaterializePayload(Payload& payload);

}  // namespace ew::wamp
