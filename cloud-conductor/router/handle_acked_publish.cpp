// ew.conductor.publish: a board's publications that its spool keeps until they are taken. The
// router routes each record as it would a PUBLISH from that board (same authorization, same
// hooks: GPIO history, flow partitions, wire buffer) unless it took that spool seq already, and
// the RESULT tells the board it may forget everything up to `through`. Handled on the strand in
// CALL order, so a board's records are routed in the order it sent them.
#include "cloud-conductor/router/options.hpp"
#include "cloud-conductor/router/session.hpp"
#include "common/contract/publish.hpp"
#include "common/log/log.hpp"
#include "common/wamp/kept_payload.hpp"
#include "common/wamp/uri.hpp"

namespace ew::router {

void Router::HandleAckedPublish(const SessionPtr& s, wamp::Call&& m) {
  namespace contract = ew::contract::publish;
  calls_total_.Inc();
  auto fail = [&](const std::string& uri, const std::string& message) {
    call_errors_total_.Inc();
    SendError(s, wamp::MessageType::kCall, m.request, uri, message);
  };
  if (s->role != Role::kBoard) return fail("wamp.error.not_authorized", m.procedure + " is for boards");
  // The codec keeps a msgpack CALL's arguments as bytes (common/wamp/kept_payload.hpp): this
  // procedure is the router's own, so it decodes them.
  if (auto decoded = wamp::MaterializePayload(m.payload); !decoded)
    return fail(std::string(WampErrorUri(decoded.error().code)), decoded.error().message);
  auto request = contract::PublishRequest::Parse(m.payload);
  if (!request) return fail(std::string(WampErrorUri(request.error().code)), request.error().message);
  if (!wamp::IsValidUri(request->topic))
    return fail("wamp.error.invalid_uri", "\"" + request->topic + "\" is not a valid topic URI");
  // Checked once for the whole call, before anything is routed: all or nothing.
  if (auto allowed = MayPublish(*s, request->topic); !allowed)
    return fail("wamp.error.not_authorized", allowed.error().message);

  contract::PublishReply reply;
  for (const contract::Record& record : request->records) {
    if (!publication_dedupe_.IsNew(s->board_id, request->spool, request->stream, record.seq)) {
      ++reply.duplicates;
      continue;
    }
    RoutePublication(*s, request->topic, record.payload, PublishOptions{});
    publication_dedupe_.Mark(s->board_id, request->spool, request->stream, record.seq);
    ++reply.routed;
  }
  reply.through = request->records.back().seq;
  if (reply.duplicates > 0)
    RouterLog()->info("board={} session={} publish {} to seq {}: {} already taken, not routed again", s->board_id, s->id,
                request->stream, reply.through, reply.duplicates);
  wamp::Result result;
  result.request = m.request;
  result.payload = reply.ToPayload();
  Send(s, result);
}

}  // namespace ew::router
