// HELLO and AUTHENTICATE: boards prove their enrolment secret with salted WAMP-CRA, users and
// scripts present an API token as a WAMP ticket. Nothing but HELLO/AUTHENTICATE is accepted
// before WELCOME, and the hello timer closes sessions that stall.
#include <chrono>

#include <fmt/chrono.h>

#include "cloud-conductor/router/options.hpp"
#include "cloud-conductor/router/session.hpp"
#include "common/ids/ids.hpp"
#include "common/log/log.hpp"

namespace ew::router {

namespace {
bool Offers(const wamp::Value& methods, const char* name) {
  if (!methods.is_array()) return false;
  for (const auto& m : methods)
    if (m.is_string() && m.get_ref<const std::string&>() == name) return true;
  return false;
}
}  // namespace

void Router::HandleHello(const SessionPtr& s, wamp::Hello&& m) {
  if (m.realm != config_.realm)
    return Abort(s, "wamp.error.no_such_realm", "realm \"" + m.realm + "\" does not exist");
  const auto& details = m.details;
  if (auto typed = CheckOptions(details, "HELLO",
                                {{"authid", OptionType::kString},
                                 {"authmethods", OptionType::kStringList},
                                 {"roles", OptionType::kObject}});
      !typed)
    return ProtocolViolation(s, typed.error().message);
  wamp::Value methods = details.contains("authmethods") ? details["authmethods"] : wamp::Value::array();
  if (methods.is_null()) methods = wamp::Value::array();
  std::string authid;
  if (details.contains("authid") && details["authid"].is_string()) authid = details["authid"].get<std::string>();
  if (authid.size() > 256) return ProtocolViolation(s, "authid longer than 256 bytes");
  if (auto roles = details.find("roles"); roles != details.end() && roles->is_object()) {
    auto callee = roles->find("callee");
    if (callee != roles->end() && callee->is_object()) {
      auto features = callee->find("features");
      if (features != callee->end() && features->is_object()) {
        auto cancel = features->find("call_canceling");
        s->accepts_interrupt = cancel != features->end() && cancel->is_boolean() && cancel->get<bool>();
      }
    }
  }

  if (Offers(methods, "wampcra") && !authid.empty()) {
    s->state = Session::State::kAuthenticating;
    s->authid = authid;
    directory_.LookupBoard(authid, [this, weak = std::weak_ptr<Session>(s), alive = std::weak_ptr<bool>(alive_)](
                                       Result<BoardIdentity> identity) {
      auto s = weak.lock();
      if (alive.expired() || !s || s->state != Session::State::kAuthenticating) return;
      if (!identity) {
        auth_failures_total_.Inc();
        RouterLog()->info("session={} from {}: refused board \"{}\": {}", s->id, s->transport->peer(),
                          log::Untrusted(s->authid),
                    identity.error().message);
        return Abort(s, "wamp.error.authentication_failed", "unknown board or wrong credentials");
      }
      const auto& cred = identity->credential;
      auto now = std::chrono::system_clock::now();
      wamp::Value challenge = {{"authid", s->authid},
                               {"authrole", RoleName(Role::kBoard)},
                               {"authmethod", "wampcra"},
                               {"authprovider", "edgewire"},
                               {"nonce", ids::NewSecret(24)},
                               {"timestamp", fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)))},
                               {"session", s->id}};
      std::string challenge_text = challenge.dump();
      s->expected_signature = ids::WampCraSign(cred.derived_key(), challenge_text);
      s->project_id = identity->project_id;
      s->state = Session::State::kChallenged;
      s->authmethod = "wampcra";
      wamp::Challenge message;
      message.auth_method = "wampcra";
      message.extra = {{"challenge", challenge_text},
                       {"salt", cred.salt()},
                       {"iterations", cred.iterations()},
                       {"keylen", cred.keylen()}};
      Send(s, message);
    });
    return;
  }
  if (Offers(methods, "ticket")) {
    s->state = Session::State::kChallenged;
    s->authid = authid;
    s->authmethod = "ticket";
    wamp::Challenge message;
    message.auth_method = "ticket";
    Send(s, message);
    return;
  }
  auth_failures_total_.Inc();
  Abort(s, "wamp.error.no_auth_method", "offer wampcra (boards, with authid) or ticket (API token)");
}

void Router::HandleAuthenticate(const SessionPtr& s, wamp::Authenticate&& m) {
  if (s->authmethod == "wampcra") {
    if (!ids::ConstantTimeEqual(m.signature, s->expected_signature)) {
      auth_failures_total_.Inc();
      RouterLog()->info("session={} from {}: wrong WAMP-CRA signature for board \"{}\"", s->id, s->transport->peer(),
                  log::Untrusted(s->authid));
      return Abort(s, "wamp.error.authentication_failed", "unknown board or wrong credentials");
    }
    s->expected_signature.clear();
    return Welcome(s, Role::kBoard, s->authid, "wampcra", s->project_id);
  }
  // ticket: the signature is an API token.
  s->state = Session::State::kAuthenticating;
  directory_.VerifyToken(m.signature, [this, weak = std::weak_ptr<Session>(s), alive = std::weak_ptr<bool>(alive_)](
                                          Result<auth::Principal> principal) {
    auto s = weak.lock();
    if (alive.expired() || !s || s->state != Session::State::kAuthenticating) return;
    if (!principal) {
      auth_failures_total_.Inc();
      RouterLog()->info("session={} from {}: refused ticket: {}", s->id, s->transport->peer(), principal.error().message);
      return Abort(s, "wamp.error.authentication_failed", "invalid or expired API token");
    }
    if (!RememberCredential(s, *principal)) return;
    Welcome(s, principal->is_admin() ? Role::kAdmin : Role::kOperator, principal->name, "ticket",
            principal->project_id);
  });
}

}  // namespace ew::router
