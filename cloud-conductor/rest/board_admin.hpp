// Board management routes (issue 16): restart, reboot, logs. Separate from resources.hpp so that
// the admin-only rule is visible to the one other route that can reach sys.reboot.
#pragma once

#include <string>

#include "cloud-conductor/rest/rest_api.hpp"
#include "cloud-conductor/rest/route_table.hpp"

namespace ew::rest {

// POST /v1/boards/{id}/restart, POST /v1/boards/{id}/reboot, GET /v1/boards/{id}/logs.
void AddBoardAdminRoutes(RouteTable& routes, const RestDeps& deps);

// GET /v1/boards/{id}/logs?follow=true: the board's new log lines as Server-Sent Events for as
// long as the client stays (board_logs_stream.cpp).
void FollowLogs(const RestDeps& deps, Exchange exchange);

// Board procedures only admins may call, whichever route reaches them (sys.reboot): the generic
// POST /v1/boards/{id}/calls/{procedure} checks this too.
bool IsAdminOnlyBoardProcedure(const std::string& procedure);

// Board procedures no user may call, admins included: tunnel.* is the conductor's (a
// tunnel.open makes the board connect to its own port and dial the conductor back; security
// review 3, L4). The calls route refuses them with 403; Router::MayCall does over WAMP.
bool IsConductorOnlyBoardProcedure(const std::string& procedure);

}  // namespace ew::rest
