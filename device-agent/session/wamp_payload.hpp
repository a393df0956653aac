// Payloads between our JSON (rpc::Request/Reply) and Autobahn's msgpack objects, bounded as the
// router bounds them. Private to the session module: it includes Autobahn.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include <autobahn/boost_config.hpp>
#include <autobahn/wamp_invocation.hpp>

#include "common/error/error.hpp"
#include "device-agent/rpc/procedure.hpp"

namespace ew::agent::session {

// msgpack → JSON through bytes: nlohmann reads msgpack, bin included, through the guarded
// parser. Throws std::runtime_error when the value is deeper than a WAMP message may be.
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

// Sends the outcome of a procedure. Io thread. The session may be gone or closing: then the
// router has already failed the call and the reply is dropped.
void SendReply(const autobahn::wamp_invocation& invocation, const ew::Result<rpc::Reply>& result,
               size_t max_message_bytes);

}  // namespace ew::agent::session
