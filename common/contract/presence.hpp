// ew.conductor.board.ready (issue 14): the agent says that every procedure and subscription of
// its session is in place. Until then the conductor does not count the board as online: no
// presence, no "online" status event, no calls from the conductor, no resync of deployments and
// flows, so nothing reaches a procedure the board has not registered yet ("no such procedure").
// The router answers it itself (cloud-conductor/router/handle_board_ready.cpp); an agent that
// never calls it (older than this contract) comes online after a grace period instead
// (docs/ARCHITECTURE.md, "Board readiness").
#pragma once

#include "common/contract/procedure.hpp"

namespace ew::contract::presence {

// Request and reply carry nothing; a second call in the same session is answered the same way.
inline constexpr ConductorProcedure<Empty, Empty> kReady{"ew.conductor.board.ready"};

}  // namespace ew::contract::presence
