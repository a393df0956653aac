// ew.conductor.board.ready (issue 14): the agent has registered every procedure it serves, so
// the board comes online now (presence, "online" status, the resync hooks) rather than at its
// WELCOME, when a call could still meet "no such procedure". Answered by the router itself: it
// is about the calling session, which no conductor service sees.
#include "cloud-conductor/router/session.hpp"
#include "common/contract/presence.hpp"
#include "common/log/log.hpp"

namespace ew::router {

void Router::HandleBoardReady(const SessionPtr& s, wamp::Call&& m) {
  calls_total_.Inc();
  if (s->role != Role::kBoard) {
    call_errors_total_.Inc();
    return SendError(s, wamp::MessageType::kCall, m.request, "wamp.error.not_authorized", m.procedure + " is for boards");
  }
  // The request carries nothing (contract::Empty): whatever arguments came are not read.
  if (!s->ready) {
    RouterLog()->debug("{} ready: {} procedure(s) registered", s->Describe(), s->registrations.size());
    BoardReady(s, /*by_grace=*/false);
  }
  wamp::Result result;
  result.request = m.request;
  result.payload = contract::Empty{}.ToPayload();
  Send(s, result);
}

}  // namespace ew::router
