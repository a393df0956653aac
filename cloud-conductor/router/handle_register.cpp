// REGISTER and UNREGISTER: exact-match procedures with a single callee each; a board may
// register only under its own ew.board.<id> prefix.
#include "cloud-conductor/router/options.hpp"
#include "cloud-conductor/router/session.hpp"
#include "common/log/log.hpp"
#include "common/wamp/uri.hpp"

namespace ew::router {

void Router::HandleRegister(const SessionPtr& s, wamp::Register&& m) {
  if (auto typed = CheckOptions(m.options, "REGISTER",
                                {{"match", OptionType::kString},
                                 {"invoke", OptionType::kString},
                                 {"disclose_caller", OptionType::kBool}});
      !typed)
    return ProtocolViolation(s, typed.error().message);
  if (!wamp::IsValidUri(m.procedure))
    return SendError(s, wamp::MessageType::kRegister, m.request, "wamp.error.invalid_uri",
                     "\"" + m.procedure + "\" is not a valid procedure URI");
  if (auto match = m.options.find("match"); match != m.options.end() && !match->is_null() && *match != "exact")
    return SendError(s, wamp::MessageType::kRegister, m.request, "wamp.error.invalid_argument",
                     "only exact-match registrations are supported");
  if (auto invoke = m.options.find("invoke"); invoke != m.options.end() && !invoke->is_null() && *invoke != "single")
    return SendError(s, wamp::MessageType::kRegister, m.request, "wamp.error.invalid_argument",
                     "only the single invocation policy is supported");
  if (auto allowed = MayRegister(*s, m.procedure); !allowed) {
    RouterLog()->info("{} refused: {}", s->Describe(), allowed.error().message);
    return SendError(s, wamp::MessageType::kRegister, m.request, "wamp.error.not_authorized",
                     allowed.error().message);
  }
  if (procedures_.count(m.procedure))
    return SendError(s, wamp::MessageType::kRegister, m.request, "wamp.error.procedure_already_exists",
                     m.procedure + " is already registered");
  Registration reg;
  reg.id = next_registration_++;
  reg.procedure = m.procedure;
  reg.callee = s;
  if (auto it = m.options.find("disclose_caller"); it != m.options.end() && it->is_boolean())
    reg.disclose_caller = it->get<bool>();
  procedures_[m.procedure] = reg.id;
  s->registrations.insert(reg.id);
  wamp::Registered reply;
  reply.request = m.request;
  reply.registration = reg.id;
  registrations_.emplace(reg.id, std::move(reg));
  Send(s, reply);
  if (s->role != Role::kBoard) return;
  // Not ready yet: the listeners hear of it when the board is (BoardReady); meanwhile the
  // grace for an agent that never says it is ready starts again.
  if (!s->ready) return ArmReadyGrace(s);
  if (!registered_listeners_.empty()) {
    const std::string prefix = "ew.board." + s->board_id + ".";
    if (m.procedure.rfind(prefix, 0) == 0) {
      const std::string suffix = m.procedure.substr(prefix.size());
      for (const auto& listener : registered_listeners_) listener(s->board_id, suffix);
    }
  }
}

void Router::HandleUnregister(const SessionPtr& s, wamp::Unregister&& m) {
  auto it = registrations_.find(m.registration);
  if (it == registrations_.end() || !s->registrations.count(m.registration))
    return SendError(s, wamp::MessageType::kUnregister, m.request, "wamp.error.no_such_registration",
                     "no registration " + std::to_string(m.registration) + " in this session");
  procedures_.erase(it->second.procedure);
  registrations_.erase(it);
  s->registrations.erase(m.registration);
  wamp::Unregistered reply;
  reply.request = m.request;
  Send(s, reply);
}

}  // namespace ew::router
