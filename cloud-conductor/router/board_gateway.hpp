// What the rest of the conductor (REST, functions, GPIO, later flows) needs from the router to
// reach boards: live presence, calls into a board's procedures through its reverse session, and
// hooks on what boards register, publish and when their sessions end.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cloud-conductor/router/wire_buffer.hpp"
#include "common/error/error.hpp"
#include "common/wamp/message.hpp"

namespace ew::router {

struct BoardPresence {
  uint64_t session_id = 0;
  std::string peer;  // remote address of the board's WebSocket
  std::chrono::system_clock::time_point since;
};

class BoardGateway {
 public:
  virtual ~BoardGateway() = default;
  // Live state of a board's session; nullopt when it has none that is ready (a board joins,
  // registers its procedures, then says it is ready: docs/ARCHITECTURE.md "Board readiness").
  // Thread-safe, non-blocking.
  virtual std::optional<BoardPresence> Presence(const std::string& board_id) const = 0;
  // Calls ew.board.<board_id>.<procedure> (procedure like "sys.ping"). `done` runs exactly once,
  // on the router's strand: Unavailable when the board has no ready session, NotFound when it did not
  // register the procedure, DeadlineExceeded after `timeout`, or the board's own error.
  // Thread-safe.
  virtual void CallBoard(const std::string& board_id, const std::string& procedure, wamp::Payload payload,
                         std::chrono::milliseconds timeout, std::function<void(Result<wamp::Payload>)> done) = 0;
  // Closes the board's session, if any (board deleted): GOODBYE ew.close.board_deleted, within
  // a second. Thread-safe.
  virtual void DisconnectBoard(const std::string& board_id) = 0;

  // A procedure the conductor itself serves to boards (ew.conductor.*, e.g. fn.fetch): `handler`
  // gets the calling board's id and the CALL's payload, runs on the router's strand (post slow
  // work elsewhere) and answers exactly once through `reply`, from any thread. Set up before
  // boards connect. Thread-safe.
  using Reply = std::function<void(Result<wamp::Payload>)>;
  using ConductorHandler = std::function<void(const std::string& board_id, wamp::Payload payload, Reply reply)>;
  virtual void ServeConductorProcedure(const std::string& uri, ConductorHandler handler) = 0;
  // `listener` runs on the router's strand for each procedure a board serves (suffix
  // "fn.deploy" for ew.board.<id>.fn.deploy) once it can be called: when the board becomes
  // ready, for every procedure registered by then, in registration order; later, at each
  // REGISTER. Thread-safe.
  using RegisteredListener = std::function<void(const std::string& board_id, const std::string& suffix)>;
  virtual void OnBoardRegistered(RegisteredListener listener) = 0;
  // `listener` runs on the router's strand for every PUBLISH a board session makes to its own
  // ew.board.<id>.* topics, once authorized (suffix "gpio.event" for ew.board.<id>.gpio.event),
  // before the event is routed to subscribers. It sits on the routing path of every board event:
  // keep it cheap (no blocking, no store access). Set up before boards connect. Thread-safe.
  using PublicationListener =
      std::function<void(const std::string& board_id, const std::string& suffix, const wamp::Payload& payload)>;
  virtual void OnBoardPublication(PublicationListener listener) = 0;
  // `listener` runs on the router's strand whenever a board's session ends, including when a
  // newer session of the same board replaces it (session_id is BoardPresence::session_id of the
  // one that ended). State the board kept for that session (its GPIO watches) is gone with it.
  // Thread-safe.
  using SessionEndedListener = std::function<void(const std::string& board_id, uint64_t session_id)>;
  virtual void OnBoardSessionEnded(SessionEndedListener listener) = 0;

  // Flows (flows contract): who may publish and subscribe ew.flow.<flow_id>.* topics. A board may
  // while it holds a partition of the flow (`boards`); users of `project_id` may too (the palette
  // joins the cloud partition). Replaces what was set for the flow before. Thread-safe. The
  // default ignores it (a gateway without flows lets nobody use them).
  virtual void SetFlowAccess(const std::string& flow_id, const std::string& project_id, std::vector<std::string> boards) {}
  // Forgets the flow: nobody but admins may use its topics any more. Thread-safe.
  virtual void ClearFlowAccess(const std::string& flow_id) {}

  // Which boards receive each of the flow's wire topics (their partitions list it inbound): while
  // such a board holds no subscription to the topic (offline, restarting), what is published on
  // it is kept for it, bounded, and delivered in order when it subscribes again (WireBuffer).
  // Replaces what was set for the flow; ClearFlowAccess forgets it. Thread-safe.
  virtual void SetFlowWires(const std::string& flow_id, std::map<std::string, std::vector<std::string>> receivers) {}
  // What is held, and was dropped for want of room, per receiving board of the flow. Thread-safe.
  virtual std::map<std::string, WireBufferStats> FlowWireStats(const std::string& flow_id) const { return {}; }

  // The conductor's own flow partitions (flows/cloud runner) join ew.flow.<flow>.* topics through
  // these two hooks rather than through a WAMP session of their own: no loopback socket, no
  // credential, no serialization of what the router already decoded.
  // `listener` runs on the router's strand for every PUBLISH to an ew.flow.* topic that the router
  // authorized (from boards, Node-RED or users), before it is routed to subscribers. It sits on
  // the routing path of every flow message: keep it cheap (look the topic up, post the work).
  // Set up before sessions connect. Thread-safe. The default ignores it.
  using FlowPublicationListener = std::function<void(const std::string& topic, const wamp::Payload& payload)>;
  virtual void OnFlowPublication(FlowPublicationListener listener) {}
  // Publishes `payload` on `topic` (an ew.flow.* topic) as the conductor itself, to every
  // subscriber. Thread-safe; delivered in the order of the calls. The default drops it.
  virtual void PublishFlowEvent(const std::string& topic, wamp::Payload payload) {}
};

}  // namespace ew::router
