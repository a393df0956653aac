// The shape of the board contract (docs/ARCHITECTURE.md "Board contract"): every procedure the
// conductor calls on a board (ew.board.<id>.<suffix>), every procedure a board calls on the
// conductor (ew.conductor.*) and every topic a board publishes is a constant here that names
// its request and reply types. The families (sys.hpp, gpio.hpp, fn.hpp, ...) declare the
// constants and the messages; adding a procedure is one message pair in one family's file.
//
// Every message type T has exactly one mapping to the WAMP payload both sides see (args +
// kwargs; the agent's rpc layer converts msgpack to this JSON, the router's codec does the same):
//   wamp::Payload T::ToPayload() const;                 // never fails
//   static Result<T> T::Parse(const wamp::Payload& p);  // InvalidArgument naming the field
// Parse checks types and ranges only; what a field means (is that function deployed?) is for
// the service that handles it.
#pragma once

#include <string>

#include "common/error/error.hpp"
#include "common/wamp/message.hpp"

namespace ew::contract {

// A procedure every board registers as ew.board.<board id>.<suffix>.
template <typename Request, typename Reply>
struct BoardProcedure {
  using RequestType = Request;
  using ReplyType = Reply;
  const char* suffix;  // "sys.ping"
  std::string Uri(const std::string& board_id) const { return "ew.board." + board_id + "." + suffix; }
};

// A procedure the conductor serves to boards, one URI for all of them.
template <typename Request, typename Reply>
struct ConductorProcedure {
  using RequestType = Request;
  using ReplyType = Reply;
  const char* uri;  // "ew.conductor.fn.fetch"
};

// A topic a board publishes as ew.board.<board id>.<suffix>.
template <typename Event>
struct BoardTopic {
  using EventType = Event;
  const char* suffix;  // "gpio.event"
  std::string Uri(const std::string& board_id) const { return "ew.board." + board_id + "." + suffix; }
};

// The message of a procedure that takes or answers nothing: any payload parses (extra
// arguments are ignored, as they always were for these).
struct Empty {
  wamp::Payload ToPayload() const { return {}; }
  static Result<Empty> Parse(const wamp::Payload&) { return Empty{}; }
};

}  // namespace ew::contract
