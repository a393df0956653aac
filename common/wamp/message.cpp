// Message type of each WAMP message struct, and the names logs print for them.
#include "common/wamp/message.hpp"

namespace ew::wamp {

namespace {

// One overload per struct: adding a struct to Message without a type here fails to compile.
constexpr MessageType TypeOfAlternative(const Hello&) { return MessageType::kHello; }
constexpr MessageType TypeOfAlternative(const Welcome&) { return MessageType::kWelcome; }
constexpr MessageType TypeOfAlternative(const Abort&) { return MessageType::kAbort; }
constexpr MessageType TypeOfAlternative(const Challenge&) { return MessageType::kChallenge; }
constexpr MessageType TypeOfAlternative(const Authenticate&) { return MessageType::kAuthenticate; }
constexpr MessageType TypeOfAlternative(const Goodbye&) { return MessageType::kGoodbye; }
constexpr MessageType TypeOfAlternative(const ErrorMessage&) { return MessageType::kError; }
constexpr MessageType TypeOfAlternative(const Publish&) { return MessageType::kPublish; }
constexpr MessageType TypeOfAlternative(const Published&) { return MessageType::kPublished; }
constexpr MessageType TypeOfAlternative(const Subscribe&) { return MessageType::kSubscribe; }
constexpr MessageType TypeOfAlternative(const Subscribed&) { return MessageType::kSubscribed; }
constexpr MessageType TypeOfAlternative(const Unsubscribe&) { return MessageType::kUnsubscribe; }
constexpr MessageType TypeOfAlternative(const Unsubscribed&) { return MessageType::kUnsubscribed; }
constexpr MessageType TypeOfAlternative(const Event&) { return MessageType::kEvent; }
constexpr MessageType TypeOfAlternative(const Call&) { return MessageType::kCall; }
constexpr MessageType TypeOfAlternative(const Cancel&) { return MessageType::kCancel; }
constexpr MessageType TypeOfAlternative(const Result&) { return MessageType::kResult; }
constexpr MessageType TypeOfAlternative(const Register&) { return MessageType::kRegister; }
constexpr MessageType TypeOfAlternative(const Registered&) { return MessageType::kRegistered; }
constexpr MessageType TypeOfAlternative(const Unregister&) { return MessageType::kUnregister; }
constexpr MessageType TypeOfAlternative(const Unregistered&) { return MessageType::kUnregistered; }
constexpr MessageType TypeOfAlternative(const Invocation&) { return MessageType::kInvocation; }
constexpr MessageType TypeOfAlternative(const Interrupt&) { return MessageType::kInterrupt; }
constexpr MessageType TypeOfAlternative(const Yield&) { return MessageType::kYield; }

}  // namespace

MessageType TypeOf(const Message& message) {
  return std::visit([](const auto& m) { return TypeOfAlternative(m); }, message);
}

const char* TypeName(MessageType type) {
  switch (type) {
    case MessageType::kHello: return "HELLO";
    case MessageType::kWelcome: return "WELCOME";
    case MessageType::kAbort: return "ABORT";
    case MessageType::kChallenge: return "CHALLENGE";
    case MessageType::kAuthenticate: return "AUTHENTICATE";
    case MessageType::kGoodbye: return "GOODBYE";
    case MessageType::kError: return "ERROR";
    case MessageType::kPublish: return "PUBLISH";
    case MessageType::kPublished: return "PUBLISHED";
    case MessageType::kSubscribe: return "SUBSCRIBE";
    case MessageType::kSubscribed: return "SUBSCRIBED";
    case MessageType::kUnsubscribe: return "UNSUBSCRIBE";
    case MessageType::kUnsubscribed: return "UNSUBSCRIBED";
    case MessageType::kEvent: return "EVENT";
    case MessageType::kCall: return "CALL";
    case MessageType::kCancel: return "CANCEL";
    case MessageType::kResult: return "RESULT";
    case MessageType::kRegister: return "REGISTER";
    case MessageType::kRegistered: return "REGISTERED";
    case MessageType::kUnregister: return "UNREGISTER";
    case MessageType::kUnregistered: return "UNREGISTERED";
    case MessageType::kInvocation: return "INVOCATION";
    case MessageType::kInterrupt: return "INTERRUPT";
    case MessageType::kYield: return "YIELD";
  }
  // A value cast from an unchecked integer: logs still get a printable name.
  return "UNKNOWN";
}

}  // namespace ew::wamp
