// What a board procedure looks like to the modules that serve one (sys, gpio, fn, ...): JSON
// in, JSON out, an ew::Error for failures. The session turns these into WAMP REGISTER,
// INVOCATION and YIELD/ERROR, so no module below sees Autobahn or msgpack.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error/error.hpp"
#include "common/wamp/message.hpp"

namespace ew::agent::rpc {

// One call of a board procedure (a WAMP INVOCATION; named Request so that "Invocation" names
// one thing, the conductor's record of a function run). Its payload (args, kwargs) arrives as
// JSON converted from msgpack: msgpack bin becomes a nlohmann binary value, everything else its
// natural JSON type. It is a wamp::Payload, so the contract's Parse functions read it as it is.
struct Request : wamp::Payload {
  std::string procedure;  // full URI, "ew.board.<id>.sys.ping"
  // The caller's WAMP session id, when the procedure asked for disclosure (0 otherwise, and for
  // the conductor's own calls).
  uint64_t caller = 0;
};

// What a procedure answers (and what the board sends the conductor): a contract message's
// ToPayload().
using Reply = wamp::Payload;

// Called exactly once per invocation, from any thread. A reply that arrives after the session
// it belongs to has ended is dropped (the router has already failed the call).
using Responder = std::function<void(ew::Result<Reply>)>;

// Runs on the agent's io thread and must not block it: slow work answers later via Responder.
using Handler = std::function<void(const Request&, Responder)>;

// A procedure registered as "ew.board.<board id>.<suffix>".
struct Procedure {
  std::string suffix;  // "sys.info"
  Handler handler;
  bool disclose_caller = false;  // REGISTER with disclose_caller: Request::caller is set
};

// A topic the board subscribes to in every session (e.g. wamp.session.on_leave). The handler
// gets the event's args and kwargs (Request::procedure = the topic) on the io thread.
struct Subscription {
  std::string topic;
  std::function<void(const Request&)> handler;
};

using ProcedureTable = std::vector<Procedure>;

// Adapts a quick, synchronous function into a Handler.
inline Handler Sync(std::function<ew::Result<Reply>(const Request&)> fn) {
  return [fn = std::move(fn)](const Request& invocation, Responder respond) { respond(fn(invocation)); };
}

}  // namespace ew::agent::rpc
