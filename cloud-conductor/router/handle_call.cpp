// The dealer's call path: CALL → INVOCATION, YIELD/ERROR → RESULT/ERROR, progressive results,
// call timeouts and CANCEL (skip, kill, killnowait) with INTERRUPT to the callee.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cloud-conductor/router/options.hpp"
#include "cloud-conductor/router/session.hpp"
#include "common/contract/presence.hpp"
#include "common/contract/publish.hpp"
#include "common/log/log.hpp"
#include "common/wamp/kept_payload.hpp"
#include "common/wamp/uri.hpp"

namespace ew::router {

namespace {
// Board sessions one caller session is remembered by for wamp.session.on_leave: far more boards
// than one client drives at once. Past it (all still live), further boards are not told when
// this caller leaves; they still release its watches when their own session ends.
constexpr size_t kMaxDisclosedBoards = 4096;

std::string ErrorMessageOf(const CallOutcome& outcome) {
  if (!outcome.payload.args.empty() && outcome.payload.args[0].is_string())
    return outcome.payload.args[0].get<std::string>();
  auto it = outcome.payload.kwargs.find("message");
  if (it != outcome.payload.kwargs.end() && it->is_string()) return it->get<std::string>();
  return outcome.error_uri;
}
}  // namespace

void Router::HandleCall(const SessionPtr& s, wamp::Call&& m) {
  if (auto typed = CheckOptions(m.options, "CALL",
                                {{"timeout", OptionType::kNonNegativeInteger},
                                 {"receive_progress", OptionType::kBool},
                                 {"disclose_me", OptionType::kBool}});
      !typed)
    return ProtocolViolation(s, typed.error().message);
  if (!wamp::IsValidUri(m.procedure))
    return SendError(s, wamp::MessageType::kCall, m.request, "wamp.error.invalid_uri",
                     "\"" + m.procedure + "\" is not a valid procedure URI");
  if (s->calls_as_caller.count(m.request))
    return ProtocolViolation(s, "CALL request id " + std::to_string(m.request) + " is already in flight");
  if (s->role == Role::kOperator) {
    // An operator's call to a board the router has not seen: learn its project first.
    if (auto board = wamp::BoardIdFromUri(m.procedure); board && !board_projects_.count(*board))
      return CallAfterLookup(s, std::move(m), *board);
  }
  if (auto allowed = MayCall(*s, m.procedure); !allowed)
    return SendError(s, wamp::MessageType::kCall, m.request, "wamp.error.not_authorized", allowed.error().message);
  if (m.procedure == contract::publish::kPublish.uri) return HandleAckedPublish(s, std::move(m));
  if (m.procedure == contract::presence::kReady.uri) return HandleBoardReady(s, std::move(m));
  if (auto own = conductor_procedures_.find(m.procedure); own != conductor_procedures_.end()) {
    if (s->role != Role::kBoard)
      return SendError(s, wamp::MessageType::kCall, m.request, "wamp.error.not_authorized",
                       m.procedure + " is for boards");
    return CallConductor(s, std::move(m), own->second);
  }
  std::chrono::milliseconds timeout = config_.call_timeout;
  if (auto it = m.options.find("timeout"); it != m.options.end() && !it->is_null()) {
    auto ms = it->get<uint64_t>();  // CheckOptions: an integer in [0, 2^53]
    if (ms > 0) timeout = std::min(std::chrono::milliseconds(ms), config_.max_call_timeout);
  }
  Caller caller;
  caller.session = s;
  caller.session_id = s->id;
  caller.request = m.request;
  caller.authid = s->authid;
  caller.authrole = RoleName(s->role);
  caller.receive_progress = BoolOption(m.options, "receive_progress");
  caller.disclose_me = BoolOption(m.options, "disclose_me");
  StartCall(std::move(caller), m.procedure, std::move(m.payload), m.options, timeout);
}

void Router::CallConductor(const SessionPtr& s, wamp::Call&& m, const ConductorHandler& handler) {
  calls_total_.Inc();
  const wamp::Id request = m.request;
  const auto started = std::chrono::steady_clock::now();
  auto reply = [this, weak = std::weak_ptr<Session>(s), request, started, alive = std::weak_ptr<bool>(alive_)](
                   Result<wamp::Payload> answer) {
    boost::asio::post(executor_, [this, weak, request, started, alive, answer = std::move(answer)]() mutable {
      auto s = weak.lock();
      if (alive.expired() || !s || s->state != Session::State::kEstablished) return;
      call_latency_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (!answer) {
        call_errors_total_.Inc();
        return SendError(s, wamp::MessageType::kCall, request, std::string(WampErrorUri(answer.error().code)),
                         answer.error().message);
      }
      wamp::Result result;
      result.request = request;
      result.payload = std::move(*answer);
      Send(s, result);
    });
  };
  if (auto decoded = wamp::MaterializePayload(m.payload); !decoded)
    return reply(tl::unexpected(decoded.error()));
  handler(s->board_id, std::move(m.payload), std::move(reply));
}

void Router::CallAfterLookup(const SessionPtr& s, wamp::Call&& m, const std::string& board) {
  directory_.BoardProject(board, [this, board, m = std::move(m), weak = std::weak_ptr<Session>(s),
                                  alive = std::weak_ptr<bool>(alive_)](Result<std::string> project) mutable {
    auto s = weak.lock();
    if (alive.expired() || !s || s->state != Session::State::kEstablished) return;
    if (!project)
      return SendError(s, wamp::MessageType::kCall, m.request, "wamp.error.not_authorized",
                       "user " + s->authid + " may not call " + m.procedure);
    board_projects_[board] = *project;
    HandleCall(s, std::move(m));
  });
}

void Router::StartCall(Caller caller, const std::string& procedure, wamp::Payload&& payload,
                       const wamp::Value& options, std::chrono::milliseconds timeout) {
  calls_total_.Inc();
  auto fail = [&](ErrorCode code, const std::string& uri, const std::string& message) {
    call_errors_total_.Inc();
    if (caller.internal) return caller.internal(MakeError(code, message));
    if (auto s = caller.session.lock()) SendError(s, wamp::MessageType::kCall, caller.request, uri, message);
  };
  auto proc = procedures_.find(procedure);
  if (proc == procedures_.end())
    return fail(ErrorCode::kNotFound, "wamp.error.no_such_procedure", "no procedure " + procedure + " is registered");
  const Registration& reg = registrations_.at(proc->second);
  auto callee = reg.callee.lock();
  if (!callee || callee->state != Session::State::kEstablished)
    return fail(ErrorCode::kUnavailable, "wamp.error.no_available_callee", "the callee of " + procedure + " is gone");

  wamp::Id invocation_id = next_invocation_++;
  auto call = std::make_unique<PendingCall>();
  call->invocation = invocation_id;
  call->procedure = procedure;
  call->callee = callee;
  call->started = std::chrono::steady_clock::now();
  call->deadline = call->started + timeout;
  call->timeout = timeout;
  call_deadlines_.emplace(call->deadline, invocation_id);
  if (call->deadline < call_timer_at_) ArmCallTimer();

  call->callee_request = callee->NextRequestId();
  // Aggregates here and in FinishCall: a default Payload would allocate an empty list and dict
  // only to have them replaced; details left null are written as {} (and become an object on
  // the first key set below).
  wamp::Invocation invocation{call->callee_request, reg.id, wamp::Value(), std::move(payload)};
  if (caller.receive_progress) invocation.details["receive_progress"] = true;
  if (reg.disclose_caller || caller.disclose_me) {
    if (caller.session_id) invocation.details["caller"] = caller.session_id;
    invocation.details["caller_authid"] = caller.authid;
    invocation.details["caller_authrole"] = caller.authrole;
    // The board may now hold things for this caller (GPIO watches): it will hear when it leaves.
    if (auto s = caller.session.lock(); s && callee->role == Role::kBoard) {
      // Bounded: sessions that are gone (boards reconnect with new ids) are forgotten first.
      if (s->disclosed_to_boards.size() >= kMaxDisclosedBoards) {
        for (auto it = s->disclosed_to_boards.begin(); it != s->disclosed_to_boards.end();)
          it = sessions_.count(*it) ? std::next(it) : s->disclosed_to_boards.erase(it);
      }
      if (s->disclosed_to_boards.size() < kMaxDisclosedBoards) s->disclosed_to_boards.insert(callee->id);
    }
  }
  if (auto it = options.find("timeout"); it != options.end() && it->is_number()) invocation.details["timeout"] = *it;

  if (auto s = caller.session.lock()) s->calls_as_caller[caller.request] = invocation_id;
  callee->invocations_as_callee[call->callee_request] = invocation_id;
  call->caller = std::move(caller);
  pending_.emplace(invocation_id, std::move(call));
  Send(callee, wamp::Message(std::move(invocation)));  // moved: a Message made from it would copy the payload
}

void Router::FinishCall(wamp::Id invocation, CallOutcome&& outcome, bool progress) {
  auto it = pending_.find(invocation);
  if (it == pending_.end()) return;
  PendingCall& call = *it->second;
  if (progress) {
    // Progressive results reach only callers that asked for them; the call stays open.
    if (!call.caller.receive_progress || call.caller.internal) return;
    if (auto s = call.caller.session.lock()) {
      wamp::Result result;
      result.request = call.caller.request;
      result.details = {{"progress", true}};
      result.payload = std::move(outcome.payload);
      Send(s, result);
    }
    return;
  }
  std::unique_ptr<PendingCall> done = std::move(it->second);
  pending_.erase(it);
  // The timer stays armed: when it fires it finds the next deadline, if any.
  call_deadlines_.erase({done->deadline, invocation});
  if (auto callee = done->callee.lock()) callee->invocations_as_callee.erase(done->callee_request);
  call_latency_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - done->started).count());
  if (!outcome.error_uri.empty()) call_errors_total_.Inc();

  if (done->caller.internal) {
    // Code inside the conductor reads the payload: decode what a board sent as bytes.
    if (auto decoded = wamp::MaterializePayload(outcome.payload); !decoded)
      return done->caller.internal(tl::unexpected(decoded.error()));
    if (outcome.error_uri.empty()) return done->caller.internal(std::move(outcome.payload));
    return done->caller.internal(MakeError(ErrorCodeFromWampUri(outcome.error_uri), ErrorMessageOf(outcome)));
  }
  auto s = done->caller.session.lock();
  if (!s) return;
  s->calls_as_caller.erase(done->caller.request);
  if (outcome.error_uri.empty()) {
    Send(s, wamp::Message(wamp::Result{done->caller.request, wamp::Value(), std::move(outcome.payload)}));
  } else {
    Send(s, wamp::Message(wamp::ErrorMessage{wamp::MessageType::kCall, done->caller.request, std::move(outcome.details),
                                             std::move(outcome.error_uri), std::move(outcome.payload)}));
  }
}

void Router::ArmCallTimer() {
  if (call_deadlines_.empty()) return;
  const auto earliest = call_deadlines_.begin()->first;
  if (earliest == call_timer_at_) return;
  call_timer_at_ = earliest;
  // Re-arming cancels the wait for a later deadline: that handler then sees operation_aborted.
  call_timer_.expires_at(earliest);
  call_timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const boost::system::error_code& ec) {
    if (ec || alive.expired()) return;
    OnCallTimer();
  });
}

void Router::OnCallTimer() {
  call_timer_at_ = std::chrono::steady_clock::time_point::max();
  const auto now = std::chrono::steady_clock::now();
  std::vector<wamp::Id> expired;
  for (auto it = call_deadlines_.begin(); it != call_deadlines_.end() && it->first <= now; ++it)
    expired.push_back(it->second);
  for (wamp::Id invocation : expired) {
    auto it = pending_.find(invocation);
    if (it == pending_.end()) continue;
    InterruptCallee(*it->second, "killnowait");
    CallOutcome outcome;
    outcome.error_uri = std::string(WampErrorUri(ErrorCode::kDeadlineExceeded));
    outcome.payload.args = wamp::Value::array({it->second->procedure + " did not answer within " +
                                               std::to_string(it->second->timeout.count()) + " ms"});
    FinishCall(invocation, std::move(outcome));
  }
  ArmCallTimer();
}

void Router::InterruptCallee(const PendingCall& call, const std::string& mode) {
  auto callee = call.callee.lock();
  if (!callee || !callee->accepts_interrupt) return;
  wamp::Interrupt interrupt;
  interrupt.request = call.callee_request;
  interrupt.options = {{"mode", mode}};
  Send(callee, interrupt);
}

void Router::HandleYield(const SessionPtr& s, wamp::Yield&& m) {
  if (auto typed = CheckOptions(m.options, "YIELD", {{"progress", OptionType::kBool}}); !typed)
    return ProtocolViolation(s, typed.error().message);
  // A late YIELD (after a timeout or a cancel) is normal: drop it.
  auto it = s->invocations_as_callee.find(m.request);
  if (it == s->invocations_as_callee.end()) return;
  CallOutcome outcome{std::string(), std::move(m.payload), wamp::Value()};  // no error: its details stay null
  FinishCall(it->second, std::move(outcome), BoolOption(m.options, "progress"));
}

void Router::HandleInvocationError(const SessionPtr& s, wamp::ErrorMessage&& m) {
  if (m.request_type != wamp::MessageType::kInvocation)
    return ProtocolViolation(s, "ERROR may only answer an INVOCATION");
  auto it = s->invocations_as_callee.find(m.request);
  if (it == s->invocations_as_callee.end()) return;
  if (!wamp::IsValidUri(m.error)) m.error = "wamp.error.invalid_uri";
  CallOutcome outcome;
  outcome.error_uri = std::move(m.error);
  outcome.details = std::move(m.details);
  outcome.payload = std::move(m.payload);
  FinishCall(it->second, std::move(outcome));
}

void Router::HandleCancel(const SessionPtr& s, wamp::Cancel&& m) {
  if (auto typed = CheckOptions(m.options, "CANCEL", {{"mode", OptionType::kString}}); !typed)
    return ProtocolViolation(s, typed.error().message);
  auto found = s->calls_as_caller.find(m.request);
  if (found == s->calls_as_caller.end()) return;  // already answered
  wamp::Id invocation = found->second;
  auto it = pending_.find(invocation);
  if (it == pending_.end()) return;
  std::string mode = "kill";
  if (auto opt = m.options.find("mode"); opt != m.options.end() && opt->is_string()) mode = opt->get<std::string>();
  if (mode != "skip" && mode != "kill" && mode != "killnowait")
    return SendError(s, wamp::MessageType::kCancel, m.request, "wamp.error.invalid_argument",
                     "CANCEL mode must be skip, kill or killnowait");
  RouterLog()->debug("{} cancels {} ({})", s->Describe(), it->second->procedure, mode);
  // A callee that cannot be interrupted cannot be asked to stop: "kill" degrades to "skip".
  auto callee = it->second->callee.lock();
  if (mode == "kill" && (!callee || !callee->accepts_interrupt)) mode = "skip";
  if (mode != "skip") InterruptCallee(*it->second, mode);
  if (mode == "kill") {
    // The callee answers the INTERRUPT with an ERROR (or a last YIELD), which ends the call.
    it->second->interrupted = true;
    return;
  }
  CallOutcome outcome;
  outcome.error_uri = std::string(WampErrorUri(ErrorCode::kCancelled));
  outcome.payload.args = wamp::Value::array({"call canceled"});
  FinishCall(invocation, std::move(outcome));
}

}  // namespace ew::router
