// Serializers for WAMP messages: wamp.2.json (text frames) and wamp.2.msgpack (binary frames).
// Decode validates the whole structure (types, lengths, id ranges) so the router never sees a
// malformed message; any violation is an InvalidArgument error and never a crash.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/error/error.hpp"
#include "common/wamp/limits.hpp"
#include "common/wamp/message.hpp"

namespace ew::wamp {

enum class Serializer { kJson, kMsgpack };

// "wamp.2.json" / "wamp.2.msgpack".
std::string_view SubprotocolName(Serializer serializer);
// Inverse of SubprotocolName; nullopt for anything else.
std::optional<Serializer> SerializerFromSubprotocol(std::string_view name);
// True when the serializer uses binary WebSocket frames (msgpack).
bool IsBinary(Serializer serializer);

// Largest id WAMP allows (2^53).
constexpr Id kMaxId = Id{1} << 53;


// Decodes one WebSocket frame. Errors: InvalidArgument with a message naming what was wrong
// ("truncated msgpack", "CALL: procedure must be a string", "unknown message type 99").
ew::Result<Message> Decode(Serializer serializer, std::string_view frame);
std::string Encode(Serializer serializer, const Message& message);

// Array form of a message ([48, 1, {}, "proc", [..], {..}]) and its inverse, shared by both codecs.
Value ToArray(const Message& message);
ew::Result<Message> FromArray(const Value& array);

}  // namespace ew::wamp
