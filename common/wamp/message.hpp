// WAMP v2 messages (basic profile + CHALLENGE/AUTHENTICATE, CANCEL/INTERRUPT, progressive
// results). One struct per message; payloads are dynamic values (nlohmann::json, which also
// carries msgpack binary). Codecs for wamp.2.json and wamp.2.msgpack live in codec.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace ew::wamp {

using Value = nlohmann::json;
using Id = uint64_t;

enum class MessageType : int {
  kHello = 1,
  kWelcome = 2,
  kAbort = 3,
  kChallenge = 4,
  kAuthenticate = 5,
  kGoodbye = 6,
  kError = 8,
  kPublish = 16,
  kPublished = 17,
  kSubscribe = 32,
  kSubscribed = 33,
  kUnsubscribe = 34,
  kUnsubscribed = 35,
  kEvent = 36,
  kCall = 48,
  kCancel = 49,
  kResult = 50,
  kRegister = 64,
  kRegistered = 65,
  kUnregister = 66,
  kUnregistered = 67,
  kInvocation = 68,
  kInterrupt = 69,
  kYield = 70,
};

// Payload carried by PUBLISH, EVENT, CALL, RESULT, INVOCATION, YIELD and ERROR.
// Encoders omit kwargs when it is empty, and args too when both are empty.
struct Payload {
  Value args = Value::array();     // always an array
  Value kwargs = Value::object();  // always an object
};

// Every `options` / `details` field is a JSON object, except in a message built only to be
// encoded: encoders write a null one as {}, so the call path leaves an empty one null (no
// allocation): the router's INVOCATION and RESULT details, CallOutcome::details of a YIELD, the
// agent's YIELD options. Decoded messages always hold objects.
struct Hello { std::string realm; Value details = Value::object(); };
struct Welcome { Id session = 0; Value details = Value::object(); };
struct Abort { Value details = Value::object(); std::string reason; };
struct Challenge { std::string auth_method; Value extra = Value::object(); };
struct Authenticate { std::string signature; Value extra = Value::object(); };
struct Goodbye { Value details = Value::object(); std::string reason; };
// [ERROR, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, Arguments|list, ArgumentsKw|dict]
struct ErrorMessage { MessageType request_type = MessageType::kCall; Id request = 0; Value details = Value::object(); std::string error; Payload payload; };
struct Publish { Id request = 0; Value options = Value::object(); std::string topic; Payload payload; };
struct Published { Id request = 0; Id publication = 0; };
struct Subscribe { Id request = 0; Value options = Value::object(); std::string topic; };
struct Subscribed { Id request = 0; Id subscription = 0; };
struct Unsubscribe { Id request = 0; Id subscription = 0; };
struct Unsubscribed { Id request = 0; };
struct Event { Id subscription = 0; Id publication = 0; Value details = Value::object(); Payload payload; };
struct Call { Id request = 0; Value options = Value::object(); std::string procedure; Payload payload; };
struct Cancel { Id request = 0; Value options = Value::object(); };
struct Result { Id request = 0; Value details = Value::object(); Payload payload; };
struct Register { Id request = 0; Value options = Value::object(); std::string procedure; };
struct Registered { Id request = 0; Id registration = 0; };
struct Unregister { Id request = 0; Id registration = 0; };
struct Unregistered { Id request = 0; };
struct Invocation { Id request = 0; Id registration = 0; Value details = Value::object(); Payload payload; };
struct Interrupt { Id request = 0; Value options = Value::object(); };
struct Yield { Id request = 0; Value options = Value::object(); Payload payload; };

using Message = std::variant<Hello, Welcome, Abort, Challenge, Authenticate, Goodbye, ErrorMessage, Publish,
                             Published, Subscribe, Subscribed, Unsubscribe, Unsubscribed, Event, Call, Cancel,
                             Result, Register, Registered, Unregister, Unregistered, Invocation, Interrupt, Yield>;

MessageType TypeOf(const Message& message);
// "HELLO", "CALL", ... for logs.
const char* TypeName(MessageType type);

}  // namespace ew::wamp
