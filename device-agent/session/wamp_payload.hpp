// Payloads between our JSON (rpc::Request/Reply) and Autobahn's msgpack objects, bounded as the
// router bounds them. Private to the session module: it includes Autobahn.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <autobahn/boost_config.hpp>
#include <autobahn/wamp_invocation.hpp>

#include "common/error/error.hpp"
#include "device-agent/rpc/procedure.hpp"

namespace ew::agent::session {

// msgpack → JSON, as nlohmann's msgpack reader would give it (bin and ext become binary values,
// ext keeping its type as the subtype; float32 widened; a repeated map key: the last wins).
// Throws std::runtime_error for a map key that is not a string, or a value deeper than a WAMP
// payload may be (wamp::kMaxPayloadDepth, counted as json::ParseLimits counts depth).
nlohmann::json MsgpackToJson(const msgpack::object& object);

// A payload as Autobahn sends it, refused here when the router would refuse it (nesting or
// size): the error then belongs to this one call or publication, instead of the router ending
// the board's whole session with a protocol violation.
struct EncodedPayload {
  msgpack::object_handle args;
  msgpack::object_handle kwargs;
};

// InvalidArgument when `payload` is deeper or larger than the router accepts; `what` names it
// in the message ("the result", "the event").
ew::Result<EncodedPayload> Encode(const rpc::Reply& payload, size_t max_message_bytes, std::string_view what);

// The YIELD (or, for an error or a result the router would refuse, the ERROR) answering
// INVOCATION `request`, encoded as a wamp.2.msgpack message. `uri` names the procedure in the
// log when a result is refused.
std::string EncodeReply(uint64_t request, ew::Result<rpc::Reply> result, size_t max_message_bytes,
                        std::string_view uri);

}  // namespace ew::agent::session
